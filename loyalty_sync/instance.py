"""The local Dagster instance used by `loyalty-sync` (DAGSTER_HOME, or one under the home)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from loyalty_sync.settings import home_dir

REPO_INSTANCE_CONFIG = Path(__file__).resolve().parents[1] / "dagster.yaml"


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
        shutil.copyfile(REPO_INSTANCE_CONFIG, config)
    os.environ["DAGSTER_HOME"] = str(path)
    return path
