"""Configuration and connection errors end in one or two lines and exit 2, as a user runs
them: a real process, real variables, a real (unreachable) host and database, a real
warehouse that refuses the sync."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from capillary_simulator.server import (
    ensure_shared_simulator,
    running_shared_simulator,
)
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.cli.processes import run_cli
from loyalty_sync_tests.conftest import admin_execute, new_database
from loyalty_sync_tests.factories import serve_simulator

# slow: every case is a `loyalty-sync` process, some waiting for a connection to time out
pytestmark = pytest.mark.slow

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
    # The bundled simulator a refused sync started is not left running behind the error.
    assert running_shared_simulator(tmp_path) is None


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
    assert running_shared_simulator(tmp_path) is None


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


# --- a warehouse that refuses the sync -------------------------------------------------


def _errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The error lines, which come last: context lines (what the sync talks to) may precede."""
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert lines[-len(errors) :] == errors, result.stderr
    return errors


def _everything(url: str) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table of the warehouse schema, as text."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        names = conn.scalars(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'capillary'")
        ).all()
        found = {
            name: sorted(
                tuple(map(str, row)) for row in conn.execute(sa.text(f"TABLE capillary.{name}"))
            )
            for name in names
        }
    engine.dispose()
    return found


def _as_role(url: str, role: str) -> str:
    return sa.engine.make_url(url).set(username=role).render_as_string(hide_password=False)


@contextmanager
def _refusing(how: str, admin_url: str, url: str) -> Iterator[str]:
    """Make the warehouse at `url` refuse a sync `how`; yield the URL the sync uses."""
    database = sa.engine.make_url(url).database
    role = f"r_{database}"
    if how == "read-only":
        admin_execute(
            admin_url, f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'
        )
        try:
            yield url
        finally:
            admin_execute(admin_url, f'ALTER DATABASE "{database}" RESET ALL')
    elif how == "missing-database":
        yield str(sa.engine.make_url(url).set(database="no_such_warehouse"))
    elif how == "missing-role":
        yield _as_role(url, role)
    else:  # a role that may read, not write
        admin_execute(admin_url, f'CREATE ROLE "{role}" LOGIN')
        admin_execute(url, f'GRANT USAGE ON SCHEMA capillary TO "{role}"')
        admin_execute(url, f'GRANT SELECT ON ALL TABLES IN SCHEMA capillary TO "{role}"')
        try:
            yield _as_role(url, role)
        finally:
            admin_execute(url, f'DROP OWNED BY "{role}"')
            admin_execute(admin_url, f'DROP ROLE "{role}"')


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("read-only", "is read-only (default_transaction_read_only"),
        ("permission-denied", "refuses role r_"),
        ("missing-database", "has no database no_such_warehouse"),
        ("missing-role", "has no role r_"),
    ],
)
def test_a_warehouse_that_refuses_the_sync_is_one_line_exit_2_and_unchanged(
    server_admin_url: str, template_url: str, tmp_path: Path, how: str, said: str
) -> None:
    url = new_database(server_admin_url)
    roster = tmp_path / "roster.csv"
    roster.write_text("org_id,source,identifier_name,identifier_value\n100,INSTORE,mobile,9100\n")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    import_roster(engine, roster)
    engine.dispose()
    before = _everything(url)
    with _refusing(how, server_admin_url, url) as used:
        result = run_cli(
            "sync",
            "--no-progress",
            home=tmp_path,
            LOYALTY_SYNC_DATABASE_URL=used,
            **API,
            **CREDENTIALS,
        )
    assert result.returncode == 2, result
    lines = _errors(result)
    assert len(lines) == 1 and lines[0].startswith("error: the warehouse "), result.stderr
    assert sa.engine.make_url(used).render_as_string(hide_password=True) in lines[0]
    assert said in lines[0]
    assert _everything(url) == before


def test_a_read_only_warehouse_never_migrated_is_one_line_exit_2(
    server_admin_url: str, tmp_path: Path
) -> None:
    url = new_database(server_admin_url, template=None)
    database = sa.engine.make_url(url).database
    admin_execute(
        server_admin_url, f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'
    )
    result = run_cli(
        "sync", "--no-progress", home=tmp_path, LOYALTY_SYNC_DATABASE_URL=url, **API, **CREDENTIALS
    )
    assert result.returncode == 2, result
    (line,) = _errors(result)
    assert "is read-only" in line and f"ALTER DATABASE {database} SET" in line, line
    assert _everything(url) == {}


def test_a_full_disk_met_mid_sync_is_one_line_exit_2(
    server_admin_url: str, template_url: str, tmp_path: Path
) -> None:
    """The benefits pass meets a full disk after the passes before it committed: the sync
    stops in one line (exit 2), and nothing of that pass is written."""
    url = new_database(server_admin_url)
    admin_execute(
        url,
        """
        CREATE FUNCTION capillary.disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'
            USING ERRCODE = 'disk_full'; END $$;
        CREATE TRIGGER no_space BEFORE INSERT ON capillary.benefit_summaries
            FOR EACH ROW EXECUTE FUNCTION capillary.disk_full();
        """,
    )
    with serve_simulator("one_org") as simulator:
        roster = tmp_path / "roster.csv"
        roster.write_text(simulator.roster_csv())
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        import_roster(engine, roster)
        env = {**simulator.client_environment(), "CAPILLARY_RATE_LIMIT_PER_MINUTE": "600000"}
        result = run_cli(
            "sync", "--no-progress", home=tmp_path, LOYALTY_SYNC_DATABASE_URL=url, **env
        )
    assert result.returncode == 2, result
    (line,) = _errors(result)
    assert line.startswith("error: the warehouse ") and "is out of disk space" in line, line
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM capillary.customers"))
        assert not conn.scalar(sa.text("SELECT count(*) FROM capillary.benefit_points"))
    engine.dispose()
