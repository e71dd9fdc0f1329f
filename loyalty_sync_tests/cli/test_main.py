"""`loyalty-sync roster import` as a user runs it: a real process, a real database.

A bad file must never end in a traceback: the user gets one line saying what is wrong
with the file (exit 2), or the rejected rows with their reasons (exit 1).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from loyalty_sync.warehouse import tables

HEADER = "org_id,source,identifier_name,identifier_value,account_id\n"
GOOD = "51135,INSTORE,externalId,GOOD,\n"


def _import(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")}
    environment.update(COLUMNS="250", **env)  # wide enough that no reason wraps
    return subprocess.run(
        [sys.executable, "-m", "loyalty_sync.cli", "roster", "import", str(path)],
        env=environment,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _identifiers(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            t = tables.customer_roster
            return set(conn.scalars(sa.select(t.c.identifier_value)))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ((HEADER + GOOD + "51135,INSTORE,email,jos\u00e9@x.com,\n").encode("latin-1"), "line 3"),
        (bytes(range(256)) * 8, "not a text file"),
        (b"", "is empty"),
        (b"org_id,source\n" + GOOD.encode(), "lacks the column(s) identifier_name"),
        (b"hello [bold]world[/]\n", "its first line reads 'hello [bold]world[/]'"),
    ],
    ids=["latin-1", "binary", "empty", "missing-columns", "not-csv-with-markup"],
)
def test_unreadable_file_is_one_line_and_exit_2(
    fresh_database_url: str, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(content)
    result = _import(path)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert _identifiers(fresh_database_url) == set()


def test_bad_rows_are_listed_exit_1_and_good_rows_load(
    fresh_database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        HEADER
        + "99999999999999999999999,INSTORE,externalId,X1,\n"
        + "51135,INSTORE,externalId,"
        + "A" * 1_000_000
        + ",\n"
        + "51135,INSTORE,mobile,[/bold],\n"
        + "\u0665\u0661\u0661\u0663\u0665,INSTORE,externalId,X2,\n"
        + "77777,INSTORE,externalId,X3,\n"
        + "51135,INSTORE,externalId,GOOD-1,\n"
        + "51136,INSTORE,externalId,GOOD-2,\n",
        encoding="utf-8",
    )
    result = _import(path, CAPILLARY_ORG_IDS="51135,51136")
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert "loaded 2 (2 new)" in result.stdout and "5 rejected" in result.stdout
    for reason in (
        "beyond the bigint range",
        "a field is longer than 131,072 characters",
        "mobile '[/bold]' is not 6 to 15 ASCII digits",
        "not a positive integer in ASCII digits",
        "org_id 77777 is not one of the configured orgs (51135, 51136)",
    ):
        assert reason in result.stderr, result.stderr
    assert (tmp_path / "roster.rejects.csv").is_file()
    assert _identifiers(fresh_database_url) == {"GOOD-1", "GOOD-2"}


def test_a_clean_file_exits_0(fresh_database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "51135,INSTORE,externalId,GOOD-1,\n").encode())
    result = _import(path, CAPILLARY_ORG_IDS="51135")
    assert result.returncode == 0, result
    assert "loaded 1 (1 new)" in result.stdout and result.stderr == ""
    assert _identifiers(fresh_database_url) == {"GOOD-1"}


def test_malformed_capillary_org_ids_is_one_line_and_exit_2(
    fresh_database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "51135,INSTORE,externalId,GOOD-1,\n")
    result = _import(path, CAPILLARY_ORG_IDS="51135,abc")
    assert result.returncode == 2, result
    assert result.stderr.count("\n") == 1 and "CAPILLARY_ORG_IDS" in result.stderr
    assert _identifiers(fresh_database_url) == set()
