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
