"""Configuration and connection errors end in one or two lines and exit 2, as a user runs
them: a real process, real variables, a real (unreachable) host and database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from capillary_simulator.server import (
    ensure_shared_simulator,
    running_shared_simulator,
)


def _cli(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")}
    environment.pop("DAGSTER_HOME", None)
    environment.update(COLUMNS="300", LOYALTY_SYNC_HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-m", "loyalty_sync.cli", *args],
        env=environment,
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )


API = {"CAPILLARY_BASE_URL": "http://127.0.0.1:9", "CAPILLARY_ORG_IDS": "100"}
CREDENTIALS = {"CAPILLARY_USERNAME": "till", "CAPILLARY_PASSWORD": "secret-pw"}


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"CAPILLARY_BASE_URL": "https://eu.api.capillarytech.com"}, ["CAPILLARY_ORG_IDS"]),
        (API, ["CAPILLARY_OAUTH_KEY", "CAPILLARY_USERNAME"]),
        (
            # A short retry budget: by default a call waits out minutes of outage first.
            {**API, **CREDENTIALS, "CAPILLARY_RETRY_BUDGET_SECONDS": "2"},
            ["cannot reach Capillary at http://127.0.0.1:9"],
        ),
        (
            {"LOYALTY_SYNC_DATABASE_URL": "postgresql://bob:hunter2@127.0.0.1:9/warehouse"},
            ["postgresql://bob:***@127.0.0.1:9/warehouse", "LOYALTY_SYNC_DATABASE_URL"],
        ),
    ],
    ids=["no-org-ids", "no-credentials", "unreachable-host", "unreachable-database"],
)
def test_sync_errors_are_one_line_and_exit_2(
    fresh_database_url: str, tmp_path: Path, env: dict[str, str], names: list[str]
) -> None:
    result = _cli("sync", "--no-progress", home=tmp_path, **env)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), result.stderr
    assert all(name in result.stderr for name in names), result.stderr
    assert "hunter2" not in result.stderr and "secret-pw" not in result.stderr


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    url = "postgresql://bob:hunter2@127.0.0.1:9/warehouse"
    result = _cli("--debug", "sync", home=tmp_path, LOYALTY_SYNC_DATABASE_URL=url)
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot connect")


def test_simulator_stop_ends_the_shared_simulator(tmp_path: Path) -> None:
    ensure_shared_simulator(tmp_path)
    state = running_shared_simulator(tmp_path)
    assert state is not None
    status = _cli("simulator", "status", home=tmp_path)
    assert status.returncode == 0 and state["base_url"] in status.stdout
    stopped = _cli("simulator", "stop", home=tmp_path)
    assert stopped.returncode == 0 and f"pid {state['pid']}" in stopped.stdout
    assert running_shared_simulator(tmp_path) is None
    assert "no shared simulator" in _cli("simulator", "stop", home=tmp_path).stdout
