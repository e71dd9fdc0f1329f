"""Configuration and connection errors end in one or two lines and exit 2, as a user runs
them: a real process, real variables, a real (unreachable) host and database, a real
warehouse that refuses the sync."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from capillary_simulator import SimulatorConfig, start_simulator
from capillary_simulator.server import (
    ensure_shared_simulator,
    running_shared_simulator,
)
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.conftest import admin_execute, new_database


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


# --- a warehouse that refuses the sync -------------------------------------------------


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
        result = _cli(
            "sync",
            "--no-progress",
            home=tmp_path,
            LOYALTY_SYNC_DATABASE_URL=used,
            **API,
            **CREDENTIALS,
        )
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
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
    result = _cli(
        "sync", "--no-progress", home=tmp_path, LOYALTY_SYNC_DATABASE_URL=url, **API, **CREDENTIALS
    )
    assert result.returncode == 2, result
    (line,) = result.stderr.strip().splitlines()
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
    with start_simulator(SimulatorConfig(seed=3, orgs=1, customers_per_org=6)) as simulator:
        roster = tmp_path / "roster.csv"
        roster.write_text(simulator.roster_csv())
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        import_roster(engine, roster)
        env = {**simulator.client_environment(), "CAPILLARY_RATE_LIMIT_PER_MINUTE": "600000"}
        result = _cli("sync", "--no-progress", home=tmp_path, LOYALTY_SYNC_DATABASE_URL=url, **env)
    assert result.returncode == 2, result
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: the warehouse ") and "is out of disk space" in line, line
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM capillary.customers"))
        assert not conn.scalar(sa.text("SELECT count(*) FROM capillary.benefit_points"))
    engine.dispose()
