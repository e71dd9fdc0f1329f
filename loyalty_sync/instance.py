"""The local Dagster instance used by `loyalty-sync` (DAGSTER_HOME, or one under the home).

Several processes may start together on a fresh home (two first syncs, a sync next to
`dagster dev`). Dagster's SQLite storages create their schema and stamp their Alembic
revision when first opened, with nothing that stops a second process doing the same at
the same moment: the store then holds two `alembic_version` rows and every later start
fails. So the folder, its `dagster.yaml` and the first opening of the instance happen
under one file lock, and a store already broken that way is named in one line.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import dagster as dg
from filelock import FileLock

from loyalty_sync.settings import home_dir

REPO_INSTANCE_CONFIG = Path(__file__).resolve().parents[1] / "dagster.yaml"
LOCK_FILE = ".loyalty_sync.lock"
LOCK_TIMEOUT_SECONDS = 120


class InstanceError(RuntimeError):
    """The local Dagster instance cannot be opened; the text says which file and what to do."""


def _lock(path: Path) -> FileLock:
    return FileLock(path / LOCK_FILE, timeout=LOCK_TIMEOUT_SECONDS)


def ensure_dagster_home() -> Path:
    """Return DAGSTER_HOME; unset, use `LOYALTY_SYNC_HOME/dagster` with the repo's dagster.yaml.

    `dagster dev` and `loyalty-sync` then share one instance: run history, partitions and
    check results written by one are seen by the other.
    """
    configured = os.environ.get("DAGSTER_HOME")
    path = Path(configured).expanduser().resolve() if configured else home_dir() / "dagster"
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists() and REPO_INSTANCE_CONFIG.exists():
        with _lock(path):
            if not config.exists():
                # Written aside and renamed: nobody reads a half-copied file.
                partial = path / f".dagster.yaml.{os.getpid()}"
                shutil.copyfile(REPO_INSTANCE_CONFIG, partial)
                partial.replace(config)
    os.environ["DAGSTER_HOME"] = str(path)
    return path


def broken_store(path: Path) -> str | None:
    """The first SQLite store under `path` stamped with more than one Alembic revision row."""
    for db in sorted(path.rglob("*.db")):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                rows = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
        except sqlite3.Error:
            continue
        if len(rows) > 1:
            fix = (
                f'keep one row: sqlite3 {db} "DELETE FROM alembic_version WHERE rowid NOT IN '
                '(SELECT min(rowid) FROM alembic_version)"'
                if len(set(rows)) == 1
                else f"move {path} aside (its run history is lost to the UI) and sync again"
            )
            return (
                f"Dagster store {db} has {len(rows)} schema versions ({', '.join(rows)}), "
                f"left by two processes creating it at once; {fix}"
            )
    return None


def local_instance() -> dg.DagsterInstance:
    """The instance of DAGSTER_HOME, its storages created by one process at a time."""
    path = ensure_dagster_home()
    with _lock(path):
        try:
            return dg.DagsterInstance.get()
        except Exception as exc:
            diagnosis = broken_store(path)
            if diagnosis:
                raise InstanceError(diagnosis) from exc
            raise
