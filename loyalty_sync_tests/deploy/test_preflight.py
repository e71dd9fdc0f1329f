"""`loyalty-sync instance check` and the launcher's witness of a worker, without the topology."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from loyalty_sync.deploy.launcher import process_alive
from loyalty_sync.deploy.preflight import PreflightError, check_storage_url
from loyalty_sync_tests.deploy.topology import BIN, REPO


def test_the_documented_url_selects_psycopg2() -> None:
    assert check_storage_url("postgresql://u:p@db:5432/dagster", "X").drivername == "postgresql"
    check_storage_url("postgresql+psycopg2://u:p@db:5432/dagster", "X")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql+psycopg://u:secret@db/dagster", "selects the psycopg driver"),
        ("mysql://u:secret@db/dagster", "is not a PostgreSQL URL"),
        ("not a url", "is not a database URL"),
    ],
)
def test_a_storage_url_dagster_postgres_cannot_use_is_one_line(url: str, says: str) -> None:
    with pytest.raises(PreflightError) as raised:
        check_storage_url(url, "DAGSTER_PG_URL")
    text = str(raised.value)
    assert says in text and "DAGSTER_PG_URL" in text
    assert "\n" not in text and "secret" not in text


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    return subprocess.run(
        [str(BIN / "loyalty-sync"), "instance", "check"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_instance_check_refuses_in_one_line(tmp_path: Path) -> None:
    unset = _check({})
    assert unset.returncode == 2 and "DAGSTER_HOME is not set" in unset.stderr
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.production.yaml", home / "dagster.yaml")
    wrong = _check(
        {"DAGSTER_HOME": str(home), "DAGSTER_PG_URL": "postgresql+psycopg://d:pw@127.0.0.1/d"}
    )
    assert wrong.returncode == 2, wrong.stderr
    lines = wrong.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs psycopg2" in lines[0], wrong.stderr
    refused = _check({"DAGSTER_HOME": str(home), "DAGSTER_PG_URL": "postgresql://d@127.0.0.1:9/d"})
    assert refused.returncode == 2 and "cannot connect to" in refused.stderr, refused.stderr


def test_a_worker_is_known_by_pid_and_start_time() -> None:
    me = psutil.Process()
    started = me.create_time()
    assert process_alive(me.pid, started + 5)
    # The same pid, but a process that started long before the worker did: not the worker.
    assert not process_alive(me.pid, started + 3600)
    assert process_alive(me.pid, started + 3600, window=None)
    # A process younger than the event: a reused pid.
    assert not process_alive(me.pid, started - 60)
    assert not process_alive(2**22 + 7, time.time())
