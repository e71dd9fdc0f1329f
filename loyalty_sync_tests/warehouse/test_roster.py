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


HEADER = "org_id,source,identifier_name,identifier_value,account_id\n"
GOOD_ROW = "51135,INSTORE,externalId,GOOD-1,\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            (HEADER + GOOD_ROW + "51135,INSTORE,email,jos\u00e9@x.com,\n").encode("latin-1"),
            "line 3 holds the byte",
        ),
        ((HEADER + GOOD_ROW).encode("utf-16"), "NUL byte"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
        (b"", "is empty"),
        (b"\xef\xbb\xbf", "no header row"),
        ((HEADER + GOOD_ROW + "51135,INSTORE,email,\u00e9").encode()[:-1], "ends inside a char"),
        (b'{"org_id": 51135, "source": "INSTORE"}\n', "lacks the column[(]s[)] org_id"),
        (b"org_id;source;identifier_name;identifier_value\n51135;INSTORE;id;4\n", "'org_id;"),
        (b"org_id,source,identifier_value,org_id,identifier_name\n" + GOOD_ROW.encode(), "twice"),
        (b"org_id," + b"x" * 200_000 + b"\n" + GOOD_ROW.encode(), "header row cannot be read"),
    ],
    ids=[
        "latin-1",
        "utf-16",
        "binary",
        "empty",
        "bom-only",
        "truncated-utf8",
        "json",
        "semicolons",
        "repeated-column",
        "huge-header",
    ],
)
def test_unreadable_files_are_refused_whole(
    engine: sa.Engine, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(content)
    with pytest.raises(RosterFileError, match=message) as caught:
        import_roster(engine, path)
    assert "\n" not in str(caught.value)
    assert _roster(engine) == set()
    assert not (tmp_path / "roster.rejects.csv").exists()


def test_a_file_that_is_not_utf8_late_loads_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    """A bad byte deep in the file (past the first read chunk) still refuses the file whole."""
    path = tmp_path / "roster.csv"
    good = "".join(f"51135,INSTORE,externalId,E{i},\n" for i in range(60_000))
    path.write_bytes((HEADER + good).encode() + b"51135,INSTORE,externalId,\xff,\n")
    with pytest.raises(RosterFileError, match="line 60002 holds the byte"):
        import_roster(engine, path)
    assert _roster(engine) == set()


BAD_VALUES = [
    ("51135,INSTORE,externalId," + "A" * 1_000_000 + ",", "longer than 131,072 characters"),
    ("51135,INSTORE,externalId," + "B" * 256 + ",", "identifier_value is 256 characters long"),
    ("51135,INSTORE,externalId,OK-1," + "c" * 300, "account_id is 300 characters long"),
    ("99999999999999999999999,INSTORE,externalId,X1,", "beyond the bigint range"),
    ("9223372036854775808,INSTORE,externalId,X2,", "beyond the bigint range"),
    ("0,INSTORE,externalId,X3,", "org_id '0' is not a positive integer"),
    ("-7,INSTORE,externalId,X4,", "org_id '-7' is not a positive integer"),
    ("1" * 65 + ",INSTORE,externalId,X5,", "org_id is 65 characters long"),
    ("\u0665\u0661\u0661\u0663\u0665,INSTORE,externalId,X6,", "ASCII digits"),
    ("\uff15\uff11\uff11\uff13\uff15,INSTORE,externalId,X7,", "ASCII digits"),
    ("51135,INSTORE,mobile,\uff19\uff18\uff17\uff16\uff15\uff14\uff13\uff12\uff11\uff10,", "ASCII"),
    ("51135,INSTORE,mobile,\u0669\u0668\u0667\u0666\u0665\u0664\u0663,", "ASCII digits"),
    ("51135,INSTORE,id,\u0664\u0662,", "id '\u0664\u0662' is not a positive integer"),
    ("51135,INSTORE,id,9223372036854775808,", "id '9223372036854775808' is beyond"),
    ("51135,INSTORE,externalId,X8,,extra", "too many cells"),
]


def test_bad_values_are_rejected_and_the_good_rows_load(engine: sa.Engine, tmp_path: Path) -> None:
    rows = [row for bad in BAD_VALUES for row in (bad[0], f"51135,INSTORE,id,{len(bad[0])}0,")]
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    report = import_roster(engine, path)

    expected_good = {(51135, "INSTORE", "id", f"{len(bad[0])}0") for bad in BAD_VALUES}
    assert _roster(engine) == expected_good
    assert report.loaded == len(expected_good)
    reasons = {r.line: r.reason for r in report.rejected}
    assert sorted(reasons) == [2 + 2 * i for i in range(len(BAD_VALUES))]
    for i, (_, expected) in enumerate(BAD_VALUES):
        assert expected in reasons[2 + 2 * i], (i, reasons[2 + 2 * i])
        assert len(reasons[2 + 2 * i]) < 200  # no reason quotes a giant value
    with (tmp_path / "roster.rejects.csv").open(encoding="utf-8") as handle:
        assert [int(r["line"]) for r in csv.DictReader(handle)] == sorted(reasons)


def test_rows_for_unconfigured_orgs_are_rejected(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        HEADER + "51135,INSTORE,externalId,A,\n77777,INSTORE,externalId,B,\n"
        "51136,INSTORE,externalId,C,\n"
    )
    report = import_roster(engine, path, org_ids=(51136, 51135))
    assert _roster(engine) == {
        (51135, "INSTORE", "externalId", "A"),
        (51136, "INSTORE", "externalId", "C"),
    }
    assert [(r.line, r.reason) for r in report.rejected] == [
        (3, "org_id 77777 is not one of the configured orgs (51135, 51136)")
    ]


def test_every_org_is_accepted_without_configured_orgs(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "77777,INSTORE,externalId,B,\n")
    assert import_roster(engine, path).ok
    assert _roster(engine) == {(77777, "INSTORE", "externalId", "B")}


def test_a_utf8_bom_before_the_header_is_accepted(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(
        b"\xef\xbb\xbf" + (HEADER + "51135,INSTORE,email,Jos\u00e9@Example.com,\n").encode()
    )
    report = import_roster(engine, path)
    assert report.ok and report.loaded == 1
    assert _roster(engine) == {(51135, "INSTORE", "email", "jos\u00e9@example.com")}


def test_a_database_failure_loads_none_of_the_file(engine: sa.Engine, tmp_path: Path) -> None:
    """The good rows go in one transaction: if Postgres refuses one, earlier ones go too."""
    path = tmp_path / "roster.csv"
    path.write_text(HEADER + "1,INSTORE,externalId,KEEP,\n")
    import_roster(engine, path)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE FUNCTION capillary.refuse_boom() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN IF NEW.identifier_value = 'BOOM' THEN RAISE EXCEPTION 'refused'; "
                "END IF; RETURN NEW; END $$"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON capillary.customer_roster "
                "FOR EACH ROW EXECUTE FUNCTION capillary.refuse_boom()"
            )
        )
    rows = [f"1,INSTORE,externalId,E{i}," for i in range(50)]
    path.write_text(HEADER + "\n".join([*rows, "1,INSTORE,externalId,BOOM,", "x,,,,"]) + "\n")
    with pytest.raises(sa.exc.DBAPIError, match="refused"):
        import_roster(engine, path)
    assert _roster(engine) == {(1, "INSTORE", "externalId", "KEEP")}
    assert not (tmp_path / "roster.rejects.csv").exists()
