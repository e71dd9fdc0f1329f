"""Where loyalty_sync keeps its local state, read from the environment in one place.

Every process (CLI, Dagster webserver, daemon, run workers, tests) resolves the same
folder so that they share one embedded Postgres and one Dagster instance.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "LOYALTY_SYNC_HOME"
DEFAULT_HOME = Path("~/.loyalty_sync")


def home_dir() -> Path:
    """The home folder (`LOYALTY_SYNC_HOME`, default `~/.loyalty_sync`), created on use."""
    path = Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


CHUNK_SIZE_ENV = "LOYALTY_SYNC_CHUNK_SIZE"
DEFAULT_CHUNK_SIZE = 250


def chunk_size_from_env() -> int:
    """Items per committed chunk of a pass: `LOYALTY_SYNC_CHUNK_SIZE`, default 250."""
    text = os.environ.get(CHUNK_SIZE_ENV, "").strip()
    if not text:
        return DEFAULT_CHUNK_SIZE
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"{CHUNK_SIZE_ENV} must be a positive integer, not {text!r}")
    return int(text)
