"""`dagster definitions validate` passes on the local and on the production instance config.

Each runs as its own process with DAGSTER_HOME holding one of the repo's instance files,
as a deployment would; the production one stores runs and events in a real Postgres
database (on the test server), which the validation has to reach.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from loyalty_sync_tests.conftest import new_database

# slow: `dagster definitions validate` as processes
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _validate(home: Path, config: str, extra_env: dict[str, str]) -> subprocess.Popen[str]:
    home.mkdir()
    shutil.copyfile(REPO / config, home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), **extra_env}
    command = [
        sys.executable,
        "-m",
        "dagster",
        "definitions",
        "validate",
        "-w",
        str(REPO / "workspace.yaml"),
    ]
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_definitions_validate_with_both_instance_configs(
    tmp_path: Path, server_admin_url: str
) -> None:
    storage_url = sa.engine.make_url(new_database(server_admin_url, template=None))
    # dagster-postgres speaks psycopg2: the plain postgresql:// form of the same URL.
    pg_url = storage_url.set(drivername="postgresql").render_as_string(hide_password=False)

    checks = {
        "dagster.yaml": _validate(tmp_path / "local", "dagster.yaml", {}),
        "dagster.production.yaml": _validate(
            tmp_path / "production", "dagster.production.yaml", {"DAGSTER_PG_URL": pg_url}
        ),
    }
    for name, process in checks.items():
        output, _ = process.communicate(timeout=180)
        assert process.returncode == 0, f"{name}:\n{output}"
        assert "All code locations passed validation" in output, output

    # The production instance really was the Postgres one: it created its tables there.
    engine = sa.create_engine(storage_url, poolclass=sa.pool.NullPool)
    try:
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"runs", "event_logs", "jobs", "instigators"} <= names
    assert (tmp_path / "local" / "history").is_dir()  # the local one: SQLite under its home
