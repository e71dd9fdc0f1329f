"""Dagster's `dg` CLI works on the project as `dagster` does: it checks and lists the same code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from capillary_simulator.server import stop_shared_simulator
from loyalty_sync_tests.deploy.files import ROOT
from loyalty_sync_tests.installed import run_script
from loyalty_sync_tests.test_definitions import ASSETS, CHECKS, JOBS, SCHEDULES, SENSORS

# slow: `dg` as processes, each loading the definitions
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dg_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private home with the repo's local instance, as `loyalty-sync` seeds one.

    Loading the definitions with no Capillary host starts the home's bundled simulator,
    detached, as it would for the UI: stopped here when the module is done.
    """
    home = tmp_path_factory.mktemp("dg")
    (home / "dagster").mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster" / "dagster.yaml")
    own = ("CAPILLARY_", "DAGSTER_")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    yield {
        **inherited,
        "LOYALTY_SYNC_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "COLUMNS": "200",
    }
    stop_shared_simulator(home)


def _dg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_script("dg", *args, cwd=ROOT, env=env)


def test_dg_check_defs_passes(dg_env: dict[str, str]) -> None:
    result = _dg(dg_env, "check", "defs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_list_defs_names_every_asset_check_sensor_and_schedule(dg_env: dict[str, str]) -> None:
    result = _dg(dg_env, "list", "defs", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    listed: dict[str, list[dict[str, Any]]] = json.loads(result.stdout)
    assert sorted(a["asset_key"] for a in listed["assets"]) == ASSETS
    assert sorted(c["key"] for c in listed["asset_checks"]) == CHECKS
    assert sorted(s["name"] for s in listed["sensors"]) == SENSORS
    assert sorted(s["name"] for s in listed["schedules"]) == SCHEDULES
    assert sorted(j["name"] for j in listed["jobs"]) == JOBS
