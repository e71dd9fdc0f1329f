"""Roster import: good rows load exactly once, every bad row is named with its line."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.roster import RosterFileError, import_roster, parse_row

MIXED = """org_id,source,identifier_name,identifier_value,account_id
51135,INSTORE,mobile,+91 98765 43210,
51135,INSTORE,email,Ann@Example.com,
51135,instore,externalId,EXT-1,
51135,INSTORE,mobile,abc,
x,INSTORE,mobile,9876543210,
51135,MARTJACK,externalId,EXT1,
51135,INSTORE,email,ann@example.com,
51135,INSTORE,id,42,
51135,INSTORE,wechat,w1,
51135,NOWHERE,mobile,9876543210,
51136,MARTJACK,cardnumber,CARD0001,acc-7
51135,INSTORE,email,not-an-email,
51135,INSTORE,externalId,,
"""


def _roster(engine: sa.Engine) -> set[tuple]:
    t = tables.customer_roster
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.select(t.c.org_id, t.c.source, t.c.identifier_name, t.c.identifier_value)
            ).all()
        )


def test_mixed_file_loads_exactly_the_good_rows(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(MIXED)
    report = import_roster(engine, path)

    assert _roster(engine) == {
        (51135, "INSTORE", "mobile", "919876543210"),
        (51135, "INSTORE", "email", "ann@example.com"),
        (51135, "INSTORE", "externalId", "EXT-1"),
        (51135, "INSTORE", "id", "42"),
        (51136, "MARTJACK", "cardnumber", "CARD0001"),
    }
    assert report.duplicates == 1
    reasons = {r.line: r.reason for r in report.rejected}
    assert sorted(reasons) == [5, 6, 7, 10, 11, 13, 14]
    assert "mobile 'abc'" in reasons[5]
    assert "org_id 'x'" in reasons[6]
    assert "account_id is required" in reasons[7]
    assert "identifier_name 'wechat'" in reasons[10]
    assert "source 'NOWHERE'" in reasons[11]
    assert "not an address" in reasons[13]
    assert "empty" in reasons[14]

    assert report.rejects_path == tmp_path / "roster.rejects.csv"
    with report.rejects_path.open() as handle:
        rejects = list(csv.DictReader(handle))
    assert [int(r["line"]) for r in rejects] == sorted(reasons)
    assert rejects[0]["identifier_value"] == "abc"


def test_importing_twice_adds_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(MIXED)
    import_roster(engine, path)
    before = _roster(engine)
    again = import_roster(engine, path)
    assert again.new == 0
    assert _roster(engine) == before


def test_import_keeps_resolved_customer_ids(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("org_id,source,identifier_name,identifier_value\n1,INSTORE,id,42\n")
    import_roster(engine, path)
    t = tables.customer_roster
    with engine.begin() as conn:
        conn.execute(sa.update(t).values(customer_id=42, lookup_status="found"))
    import_roster(engine, path)
    with engine.connect() as conn:
        assert conn.execute(sa.select(t.c.customer_id, t.c.lookup_status)).one() == (42, "found")


def test_file_without_required_columns_is_refused(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("org,kind,value\n1,mobile,9876543210\n")
    with pytest.raises(RosterFileError, match="identifier_name"):
        import_roster(engine, path)
    assert _roster(engine) == set()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MOBILE", "+44 (20) 7946-0958", "442079460958"),
        ("externalid", "abc-1", "abc-1"),
        ("ID", "007", "7"),
    ],
)
def test_identifier_values_are_normalised(name: str, value: str, expected: str) -> None:
    row = {"org_id": "1", "source": "INSTORE", "identifier_name": name, "identifier_value": value}
    assert parse_row(row).identifier_value == expected
