"""Migrations: up and down, agreement with tables.py, and `loyalty-sync db` on both servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from loyalty_sync.warehouse import migrate, tables
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.pg_servers import tcp_postgres

CONTRACT = {t.name for t in tables.CONTRACT_TABLES}


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names(schema=tables.SCHEMA))


def test_upgrade_and_downgrade(server_admin_url: str) -> None:
    engine = sa.create_engine(new_database(server_admin_url, template=None))
    try:
        pending = migrate.status(engine).pending
        assert pending[0] == "0001" and pending[-1] == migrate.status(engine).head
        migrate.upgrade(engine)
        assert _tables(engine) >= CONTRACT
        assert migrate.status(engine).up_to_date
        migrate.downgrade(engine)
        assert _tables(engine) <= {"alembic_version"}
        migrate.upgrade(engine)
        assert _tables(engine) >= CONTRACT
    finally:
        engine.dispose()


def test_migrated_schema_matches_table_definitions(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "version_table_schema": tables.SCHEMA,
                "include_name": lambda name, type_, parent: (
                    type_ != "schema" or name == tables.SCHEMA
                ),
            },
        )
        diff = [
            d
            for d in compare_metadata(context, tables.metadata)
            if not (d[0] == "remove_table" and d[1].name == "alembic_version")
        ]
    assert diff == []


def test_contract_column_types(engine: sa.Engine) -> None:
    inspector = sa.inspect(engine)
    for table in tables.CONTRACT_TABLES:
        columns = {c["name"]: c for c in inspector.get_columns(table.name, schema=tables.SCHEMA)}
        assert "org_id" in columns, table.name
        assert "synced_at" in columns, table.name
        assert isinstance(columns["synced_at"]["type"], sa.DateTime)
        assert columns["synced_at"]["type"].timezone
        assert "run_id" in columns, table.name
    lpd = {c["name"]: c for c in inspector.get_columns("loyalty_program_details", "capillary")}
    assert isinstance(lpd["loyalty_points"]["type"], sa.Numeric)
    assert str(lpd["raw"]["type"]) == "JSONB"


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loyalty_sync.cli", *args],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env(home: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LOYALTY_SYNC_DATABASE_URL"}
    env["LOYALTY_SYNC_HOME"] = str(home)
    if database_url:
        env["LOYALTY_SYNC_DATABASE_URL"] = database_url
    return env


def test_db_upgrade_on_an_external_server(tmp_path: Path) -> None:
    with tcp_postgres(tmp_path) as url:
        env = _env(tmp_path / "home", url)
        before = _cli(["db", "status"], env)
        assert before.returncode == 1
        assert "pending: 0001" in before.stdout
        done = _cli(["db", "upgrade"], env)
        assert done.returncode == 0, done.stderr
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            assert _tables(engine) >= CONTRACT
        finally:
            engine.dispose()
        assert _cli(["db", "status"], env).returncode == 0
        assert not (tmp_path / "home" / "postgres").exists()  # the embedded one never started


def test_embedded_default_shared_by_two_processes_and_kept(tmp_path: Path) -> None:
    """Two processes start at once on an empty home: one server, both succeed, data stays."""
    env = _env(tmp_path / "home")
    (tmp_path / "home").mkdir()
    roster = tmp_path / "roster.csv"
    roster.write_text("org_id,source,identifier_name,identifier_value\n1,INSTORE,id,42\n")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "loyalty_sync.cli", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in (["db", "upgrade"], ["roster", "import", str(roster)])
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    # Both processes have exited: the server was stopped; a new process finds the data.
    check = _cli(["roster", "import", str(roster)], env)
    assert check.returncode == 0, check.stderr
    assert "(0 new)" in check.stdout
    assert (tmp_path / "home" / "postgres" / "PG_VERSION").exists()


def test_bad_database_url_is_named(tmp_path: Path) -> None:
    result = _cli(["db", "status"], _env(tmp_path, "mysql://u@h/db"))
    assert result.returncode == 2
    assert "must point at PostgreSQL" in result.stderr
