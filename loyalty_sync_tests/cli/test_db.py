"""`loyalty-sync db url` and `db shell` as a user runs them, on an embedded server that is
not running: a real process and a real server.

A fresh machine may have no PostgreSQL client, so the URL is checked with libpq itself
(psycopg connects through it, reading a URL exactly as psql does), and `db shell` runs a
`psql` placed first on PATH that connects through libpq the same way and prints what it
was given and what the server answered.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from loyalty_sync_tests.cli.processes import run_cli

# psql's part in `db shell`: connect to the URL it is given (libpq reads PGOPTIONS), run
# the -c query, print each row; exit 3 when the query fails, as psql exits non-zero.
PSQL = textwrap.dedent(
    """\
    #!{python}
    import sys, psycopg
    url, query = sys.argv[1], sys.argv[sys.argv.index("-c") + 1]
    try:
        with psycopg.connect(url) as conn:
            for row in conn.execute(query):
                print(*row)
    except psycopg.Error as exc:
        print(exc, file=sys.stderr)
        sys.exit(3)
    """
)


EMBEDDED = {"LOYALTY_SYNC_DATABASE_URL": ""}  # whatever server the test suite uses


@pytest.fixture
def psql_on_path(tmp_path: Path) -> str:
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "psql"
    script.write_text(PSQL.format(python=sys.executable))
    script.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"


def test_db_url_and_shell_reach_a_stopped_embedded_server(
    tmp_path: Path, psql_on_path: str
) -> None:
    home = tmp_path / "home"
    printed = run_cli("db", "url", home=home, **EMBEDDED)
    assert printed.returncode == 0, printed
    url = printed.stdout.strip()
    assert url.startswith("postgresql://") and "/loyalty_sync?" in url, url
    # The server stopped with the command, and the command said so and what to do.
    assert "--hold" in printed.stderr and "db shell" in printed.stderr
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=10).close()

    shell = run_cli(
        "db",
        "shell",
        "-c",
        "select current_database(), current_setting('search_path')",
        home=home,
        PATH=psql_on_path,
        **EMBEDDED,
    )
    assert shell.returncode == 0, shell
    assert shell.stdout.split() == ["loyalty_sync", "capillary,public"]
    failing = run_cli(
        "db", "shell", "-c", "select nonsense", home=home, PATH=psql_on_path, **EMBEDDED
    )
    assert failing.returncode == 3 and "nonsense" in failing.stderr  # psql's own exit code


def test_db_shell_without_psql_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli(
        "db", "shell", home=tmp_path, PATH=str(Path(sys.executable).parent), **EMBEDDED
    )
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: psql is not installed"), lines


def test_db_url_of_a_configured_database_is_a_libpq_url(tmp_path: Path) -> None:
    url = "postgresql+psycopg://bob:pw@db.example.com:5433/warehouse"
    result = run_cli("db", "url", home=tmp_path, LOYALTY_SYNC_DATABASE_URL=url)
    assert result.returncode == 0, result
    assert result.stdout.strip() == "postgresql://bob:pw@db.example.com:5433/warehouse"
    assert result.stderr == ""  # nothing to keep up
