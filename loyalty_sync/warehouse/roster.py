"""Roster import: the customer identifiers a sync starts from.

Capillary has no "list all customers" endpoint, so the data team hands over identifiers
(from Capillary's Data Export or their own CRM) as CSV. Each row is checked on its own:
good rows load (idempotently: importing the same file twice adds nothing), bad rows are
reported with their line number and reason and written to a rejects file beside the
input, so nothing is dropped without a trace.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from loyalty_sync.capillary.codes import SOURCES as API_SOURCES
from loyalty_sync.warehouse import tables, writer

REQUIRED_COLUMNS = ("org_id", "source", "identifier_name", "identifier_value")
OPTIONAL_COLUMNS = ("account_id",)
ROSTER_RUN_ID = "roster-import"

# ALL is a lookup wildcard, not where an identifier lives.
SOURCES = API_SOURCES - {"ALL"}
# Canonical spelling by lower-case name.
IDENTIFIER_NAMES = {
    name.lower(): name for name in ("mobile", "email", "externalId", "id", "cardnumber")
}

_MOBILE = re.compile(r"^\d{6,15}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOKEN = re.compile(r"^[\w.\-:/#+]{1,100}$")


class RosterFileError(ValueError):
    """The file as a whole cannot be read as a roster (missing columns, not CSV)."""


@dataclass(frozen=True)
class RosterEntry:
    org_id: int
    source: str
    identifier_name: str
    identifier_value: str
    account_id: str | None

    def as_row(self) -> dict[str, object]:
        return {
            "org_id": self.org_id,
            "source": self.source,
            "identifier_name": self.identifier_name,
            "identifier_value": self.identifier_value,
            "account_id": self.account_id,
        }


@dataclass(frozen=True)
class Rejected:
    line: int
    values: dict[str, str]
    reason: str


@dataclass
class ImportReport:
    path: Path
    read: int = 0
    loaded: int = 0
    new: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    rejects_path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.rejected


def _clean_value(name: str, raw: str) -> str:
    """Normalise and check an identifier value for its kind; raise ValueError with a reason."""
    value = raw.strip()
    if not value:
        raise ValueError("identifier_value is empty")
    if name == "mobile":
        digits = re.sub(r"[\s\-()]", "", value).removeprefix("+")
        if not _MOBILE.match(digits):
            raise ValueError(f"mobile {value!r} is not 6 to 15 digits")
        return digits
    if name == "email":
        if not _EMAIL.match(value):
            raise ValueError(f"email {value!r} is not an address")
        return value.lower()
    if name == "id":
        if not value.isdigit() or int(value) <= 0:
            raise ValueError(f"id {value!r} is not a positive integer customer id")
        return str(int(value))
    if not _TOKEN.match(value):
        raise ValueError(f"{name} {value!r} has spaces or characters an identifier cannot hold")
    return value


def parse_row(values: dict[str, str]) -> RosterEntry:
    """Validate one CSV row; raise ValueError naming the first problem."""
    org_text = (values.get("org_id") or "").strip()
    if not org_text.isdigit() or int(org_text) <= 0:
        raise ValueError(f"org_id {org_text!r} is not a positive integer")
    source = (values.get("source") or "").strip().upper()
    if source not in SOURCES:
        raise ValueError(f"source {source!r} is not one of {', '.join(sorted(SOURCES))}")
    name_text = (values.get("identifier_name") or "").strip()
    name = IDENTIFIER_NAMES.get(name_text.lower())
    if name is None:
        raise ValueError(
            f"identifier_name {name_text!r} is not one of {', '.join(IDENTIFIER_NAMES.values())}"
        )
    value = _clean_value(name, values.get("identifier_value") or "")
    account_id = (values.get("account_id") or "").strip() or None
    if source != "INSTORE" and account_id is None:
        raise ValueError(f"account_id is required for source {source} (only INSTORE has none)")
    return RosterEntry(int(org_text), source, name, value, account_id)


def read_roster(path: Path, report: ImportReport) -> Iterator[RosterEntry]:
    """Yield valid, first-seen entries of `path`; record rejects and duplicates in `report`."""
    seen: set[tuple[int, str, str, str]] = set()
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise RosterFileError(
                f"{path} lacks the column(s) {', '.join(missing)}; a roster has "
                f"{','.join(REQUIRED_COLUMNS)} and optionally account_id"
            )
        reader.fieldnames = header
        for values in reader:
            line = reader.line_num
            report.read += 1
            if None in values:  # more cells than header columns
                report.rejected.append(Rejected(line, _printable(values), "too many cells"))
                continue
            try:
                entry = parse_row(values)
            except ValueError as exc:
                report.rejected.append(Rejected(line, _printable(values), str(exc)))
                continue
            key = (entry.org_id, entry.source, entry.identifier_name, entry.identifier_value)
            if key in seen:
                report.duplicates += 1
                continue
            seen.add(key)
            yield entry


def _printable(values: dict[str | None, object]) -> dict[str, str]:
    return {str(k): str(v) for k, v in values.items() if k is not None}


def rejects_path_for(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejects.csv")


def _write_rejects(path: Path, rejected: Iterable[Rejected]) -> None:
    columns = ["line", *REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "reason"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        out.writeheader()
        for item in rejected:
            out.writerow({**item.values, "line": item.line, "reason": item.reason})


def import_roster(engine: sa.Engine, path: Path) -> ImportReport:
    """Load the good rows of `path` into customer_roster in one transaction."""
    if not path.is_file():
        raise RosterFileError(f"{path} is not a file")
    report = ImportReport(path=path)
    with engine.begin() as conn:
        before = conn.scalar(sa.select(sa.func.count()).select_from(tables.customer_roster))
        result = writer.merge(
            conn,
            tables.customer_roster,
            (entry.as_row() for entry in read_roster(path, report)),
            run_id=ROSTER_RUN_ID,
            columns=["account_id"],
        )
        after = conn.scalar(sa.select(sa.func.count()).select_from(tables.customer_roster))
    report.loaded = result.staged
    report.new = int(after or 0) - int(before or 0)
    rejects = rejects_path_for(path)
    if report.rejected:
        _write_rejects(rejects, report.rejected)
        report.rejects_path = rejects
    elif rejects.exists():
        rejects.unlink()  # a stale file from an earlier import would mislead
    return report
