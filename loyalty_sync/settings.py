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
MAX_AGE_ENV = "LOYALTY_SYNC_MAX_AGE_DAYS"
DEFAULT_MAX_AGE_DAYS = 7
EVENT_RETENTION_ENV = "LOYALTY_SYNC_EVENT_RETENTION_DAYS"
DEFAULT_EVENT_RETENTION_DAYS = 90
DRIFT_SAMPLE_ENV = "LOYALTY_SYNC_DRIFT_SAMPLE"
DEFAULT_DRIFT_SAMPLE = 0.01


def _positive_int(name: str, default: int, what: str) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"{name} must be a positive {what}, not {text!r}")
    return int(text)


def chunk_size_from_env() -> int:
    """Items per committed chunk of a pass: `LOYALTY_SYNC_CHUNK_SIZE`, default 250."""
    return _positive_int(CHUNK_SIZE_ENV, DEFAULT_CHUNK_SIZE, "integer")


def max_age_days_from_env() -> int:
    """Days after which a daily sync fetches an item whatever the signals say (default 7)."""
    return _positive_int(MAX_AGE_ENV, DEFAULT_MAX_AGE_DAYS, "number of days")


def event_retention_days_from_env() -> int:
    """Days api_events rows are kept before a sync prunes them into daily counts (90)."""
    return _positive_int(EVENT_RETENTION_ENV, DEFAULT_EVENT_RETENTION_DAYS, "number of days")


def drift_sample_from_env() -> float:
    """Share of skipped items a sync fetches anyway to measure misses (default 0.01)."""
    text = os.environ.get(DRIFT_SAMPLE_ENV, "").strip()
    if not text:
        return DEFAULT_DRIFT_SAMPLE
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{DRIFT_SAMPLE_ENV} must be a share between 0 and 1, not {text!r}")
    return share


def setting_problems() -> list[str]:
    """Every invalid setting above, one line each, so all are fixed in one go."""
    problems: list[str] = []
    for read in (chunk_size_from_env, max_age_days_from_env, drift_sample_from_env):
        try:
            read()
        except ValueError as exc:
            problems.append(str(exc))
    return problems
