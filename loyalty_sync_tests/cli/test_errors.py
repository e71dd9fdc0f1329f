"""Configuration and connection errors end in one or two lines and exit 2, as a user runs
them: a real process, real variables, a real (unreachable) host and database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capillary_simulator.server import (
    ensure_shared_simulator,
    running_shared_simulator,
)
from loyalty_sync_tests.cli.processes import run_cli

API = {"CAPILLARY_BASE_URL": "http://127.0.0.1:9", "CAPILLARY_ORG_IDS": "100"}
CREDENTIALS = {"CAPILLARY_USERNAME": "till", "CAPILLARY_PASSWORD": "secret-pw"}


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"CAPILLARY_BASE_URL": "https://eu.api.capillarytech.com"}, ["CAPILLARY_ORG_IDS"]),
        (API, ["CAPILLARY_OAUTH_KEY", "CAPILLARY_USERNAME"]),
        (
            # No retry budget to shorten: a host that never answered is not an outage.
            {**API, **CREDENTIALS},
            ["cannot reach Capillary at http://127.0.0.1:9", "CAPILLARY_BASE_URL"],
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
    result = run_cli("sync", "--no-progress", home=tmp_path, **env)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    # Context lines (what the sync talks to) may come first; then a line per problem.
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert 1 <= len(errors) <= 2 and lines[-len(errors) :] == errors, result.stderr
    assert all(name in result.stderr for name in names), result.stderr
    assert "hunter2" not in result.stderr and "secret-pw" not in result.stderr


def test_a_refused_address_fails_within_seconds_of_connecting(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """A wrong CAPILLARY_BASE_URL (nothing listens there) is named in one line, exit 2,
    within seconds of the first call: no retries and no breaker for a host that never
    answered. Before, the same sync retried for five minutes."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")}
    environment.pop("DAGSTER_HOME", None)
    environment.update(
        LOYALTY_SYNC_HOME=str(tmp_path), CAPILLARY_BASE_URL=url, CAPILLARY_ORG_IDS="100"
    )
    environment.update(CREDENTIALS)
    process = subprocess.Popen(
        [sys.executable, "-m", "loyalty_sync.cli", "sync", "--no-progress"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    connecting = None
    for line in process.stderr:
        lines.append(line.rstrip("\n"))
        if line.startswith(f"connecting to Capillary at {url}"):
            connecting = time.monotonic()
    assert process.wait(timeout=120) == 2
    seconds = time.monotonic() - (connecting or 0.0)
    assert connecting is not None, lines
    assert seconds < 10, (seconds, lines)
    assert lines[-1].startswith(f"error: cannot reach Capillary at {url}: no connection"), lines
    assert "CAPILLARY_BASE_URL" in lines[-1] and "Traceback" not in "\n".join(lines)


def test_every_bad_setting_is_named_at_once(tmp_path: Path) -> None:
    result = run_cli(
        "sync",
        "--no-progress",
        home=tmp_path,
        CAPILLARY_BASE_URL="https://eu.api.capillarytech.com",
        CAPILLARY_RATE_LIMIT_PER_MINUTE="lots",
        CAPILLARY_BENEFITS_API="v9",
        LOYALTY_SYNC_CHUNK_SIZE="0",
        LOYALTY_SYNC_DRIFT_SAMPLE="half",
        LOYALTY_SYNC_DATABASE_URL="mysql://bob@host/db",
    )
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), result.stderr
    for name in (
        "CAPILLARY_ORG_IDS",
        "CAPILLARY_USERNAME",  # no credentials
        "CAPILLARY_RATE_LIMIT_PER_MINUTE",
        "CAPILLARY_BENEFITS_API",
        "LOYALTY_SYNC_CHUNK_SIZE",
        "LOYALTY_SYNC_DRIFT_SAMPLE",
        "LOYALTY_SYNC_DATABASE_URL",
    ):
        assert sum(name in line for line in lines) == 1, (name, result.stderr)
    assert len(lines) == 7, result.stderr


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    url = "postgresql://bob:hunter2@127.0.0.1:9/warehouse"
    result = run_cli("--debug", "sync", home=tmp_path, LOYALTY_SYNC_DATABASE_URL=url)
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot connect")


def test_simulator_stop_ends_the_shared_simulator(tmp_path: Path) -> None:
    ensure_shared_simulator(tmp_path)
    state = running_shared_simulator(tmp_path)
    assert state is not None
    status = run_cli("simulator", "status", home=tmp_path)
    assert status.returncode == 0 and state["base_url"] in status.stdout
    stopped = run_cli("simulator", "stop", home=tmp_path)
    assert stopped.returncode == 0 and f"pid {state['pid']}" in stopped.stdout
    assert running_shared_simulator(tmp_path) is None
    assert "no shared simulator" in run_cli("simulator", "stop", home=tmp_path).stdout
