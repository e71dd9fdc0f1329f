"""Roster import: the customer identifiers a sync starts from.

Capillary has no "list all customers" endpoint, so the data team hands over identifiers
(from Capillary's Data Export or their own CRM) as CSV. Each row is checked on its own:
good rows load (idempotently: importing the same file twice adds nothing), bad rows are
reported with their line number and reason and written to a rejects file beside the
input, so nothing is dropped without a trace.

Files come from spreadsheets and exports we do not control, so the importer trusts
nothing about them. A file that cannot be read as text at all (not UTF-8, binary, empty,
no header) is refused before anything is written. Within a readable file every value is
checked here, in Python, against what the warehouse and the API can hold (ASCII digits,
bigint range, a length cap per column), because a value that only fails inside
Postgres's COPY would abort the whole transaction and take the file's good rows with it.
The good rows then load in one transaction: all of them or, on a database error, none.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

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

# Longest value accepted per column (after trimming spaces). Identifiers Capillary issues
# are far shorter; anything longer is a paste gone wrong, and it would be sent to the API
# in every sync. org_id's cap is loose: its range (bigint) is the check that speaks.
MAX_LENGTHS = {
    "org_id": 64,
    "source": 32,
    "identifier_name": 32,
    "identifier_value": 255,
    "account_id": 255,
}
# org ids and customer ids are stored as Postgres bigint.
BIGINT_MAX = 2**63 - 1

# ASCII only: `\d` and `str.isdigit` also take Arabic-Indic, fullwidth and other digits,
# which Capillary would not match against the identifiers it holds.
_ASCII_DIGITS = re.compile(r"[0-9]+")
_MOBILE = re.compile(r"[0-9]{6,15}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TOKEN = re.compile(r"[\w.\-:/#+]+")

_READ_CHUNK = 1 << 20


class RosterFileError(ValueError):
    """The file as a whole cannot be read as a roster (not UTF-8 text, empty, missing columns)."""


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


def _positive_bigint(column: str, text: str) -> int:
    """`text` as an integer in 1..bigint max, from ASCII digits only; ValueError otherwise."""
    value = int(text) if _ASCII_DIGITS.fullmatch(text) else 0
    if value <= 0:
        raise ValueError(f"{column} {text!r} is not a positive integer in ASCII digits")
    if value > BIGINT_MAX:
        raise ValueError(
            f"{column} {text!r} is beyond the bigint range of ids (at most {BIGINT_MAX})"
        )
    return value


def _clean_value(name: str, raw: str) -> str:
    """Normalise and check an identifier value for its kind; raise ValueError with a reason."""
    value = raw.strip()
    if not value:
        raise ValueError("identifier_value is empty")
    if name == "mobile":
        digits = re.sub(r"[\s\-()]", "", value).removeprefix("+")
        if not _MOBILE.fullmatch(digits):
            raise ValueError(f"mobile {value!r} is not 6 to 15 ASCII digits")
        return digits
    if name == "email":
        if not _EMAIL.fullmatch(value):
            raise ValueError(f"email {value!r} is not an address")
        return value.lower()
    if name == "id":
        return str(_positive_bigint("id", value))
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"{name} {value!r} has spaces or characters an identifier cannot hold")
    return value


def _check_lengths(values: dict[str, str]) -> None:
    """Refuse over-long values first, so no later reason quotes a megabyte of text."""
    for column, limit in MAX_LENGTHS.items():
        length = len((values.get(column) or "").strip())
        if length > limit:
            raise ValueError(
                f"{column} is {length:,} characters long; a roster accepts at most {limit}"
            )


def parse_row(values: dict[str, str], org_ids: Collection[int] | None = None) -> RosterEntry:
    """Validate one CSV row; raise ValueError naming the first problem.

    `org_ids`, when given, are the only orgs a row may belong to (CAPILLARY_ORG_IDS): a
    row for any other org would never be synced, so it is rejected rather than kept.
    """
    _check_lengths(values)
    org_id = _positive_bigint("org_id", (values.get("org_id") or "").strip())
    if org_ids is not None and org_id not in org_ids:
        listed = ", ".join(map(str, sorted(org_ids)))
        raise ValueError(f"org_id {org_id} is not one of the configured orgs ({listed})")
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
    return RosterEntry(org_id, source, name, value, account_id)


def check_text_file(path: Path) -> None:
    """Raise RosterFileError unless `path` is non-empty UTF-8 text without NUL bytes.

    Runs before the import opens its transaction, so a file that turns out undecodable
    halfway is refused whole instead of failing after some of it was read. Reads in
    chunks, so a large or binary file costs constant memory.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    line = 1
    size = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                size += len(chunk)
                _check_chunk(path, decoder, chunk, line)
                line += chunk.count(b"\n")
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise RosterFileError(
                    f"{path} is not UTF-8 text: it ends inside a character; {_TEXT_ADVICE}"
                ) from None
    except OSError as exc:
        raise RosterFileError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if size == 0:
        raise RosterFileError(f"{path} is empty; {_expected_header()}")


_TEXT_ADVICE = "save it as CSV UTF-8"


def _check_chunk(path: Path, decoder: codecs.IncrementalDecoder, chunk: bytes, line: int) -> None:
    """Refuse a chunk (starting on `line`) holding a NUL byte or bytes that are not UTF-8."""
    nul = chunk.find(b"\x00")
    if nul >= 0:
        at = line + chunk.count(b"\n", 0, nul)
        raise RosterFileError(
            f"{path} is not a text file: line {at} holds a NUL byte (a binary "
            f"file, or text saved as UTF-16); {_TEXT_ADVICE}"
        )
    try:
        decoder.decode(chunk)
    except UnicodeDecodeError as exc:
        carried = len(exc.object) - len(chunk)  # bytes held from the last chunk
        at = line + chunk.count(b"\n", 0, max(0, exc.start - carried))
        bad = exc.object[exc.start : exc.end].hex(" ")
        raise RosterFileError(
            f"{path} is not UTF-8 text: line {at} holds the byte(s) {bad}; {_TEXT_ADVICE}"
        ) from None


def _expected_header() -> str:
    return (
        f"a roster starts with the header {','.join(REQUIRED_COLUMNS)} "
        f"(and optionally {','.join(OPTIONAL_COLUMNS)})"
    )


class _CsvReader(Protocol):
    """What `read_roster` uses of a `csv.reader`: its records and the line it reached."""

    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...
    def __next__(self) -> list[str]: ...


def _records(reader: _CsvReader) -> Iterator[tuple[int, list[str] | str]]:
    """(line, cells) per CSV record, or (line, reason) for a record the csv module refuses.

    The csv module raises on a field beyond its size limit (131,072 characters) and then
    carries on with the next line, so one monstrous cell costs its row, not the file.
    """
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            text = str(exc)
            if "field larger than field limit" in text:
                reason = (
                    f"a field is longer than {csv.field_size_limit():,} characters; a roster "
                    f"accepts at most {max(MAX_LENGTHS.values())}"
                )
            else:
                reason = f"not readable as CSV ({text})"
            yield reader.line_num, reason
            continue
        yield reader.line_num, cells


def _header(path: Path, first: tuple[int, list[str] | str] | None) -> list[str]:
    if first is None:
        raise RosterFileError(f"{path} has no header row; {_expected_header()}")
    _, cells = first
    if isinstance(cells, str):
        raise RosterFileError(f"{path}: the header row cannot be read ({cells})")
    header = [cell.strip() for cell in cells]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        seen = ",".join(cells)
        shown = seen if len(seen) <= 80 else seen[:77] + "..."
        raise RosterFileError(
            f"{path} lacks the column(s) {', '.join(missing)} (its first line reads "
            f"{shown!r}); {_expected_header()}"
        )
    repeated = sorted({column for column in header if column and header.count(column) > 1})
    if repeated:
        raise RosterFileError(f"{path} names the column(s) {', '.join(repeated)} twice")
    return header


def read_roster(
    path: Path, report: ImportReport, org_ids: Collection[int] | None = None
) -> Iterator[RosterEntry]:
    """Yield valid, first-seen entries of `path`; record rejects and duplicates in `report`.

    Raises RosterFileError for a file that is not a roster at all; callers load what this
    yields inside one transaction, so such an error leaves nothing behind.
    """
    seen: set[tuple[int, str, str, str]] = set()
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="strict") as handle:
            reader = csv.reader(handle)
            records = _records(reader)
            header = _header(path, next(records, None))
            for line, cells in records:
                if isinstance(cells, list) and not cells:
                    continue  # a blank line
                report.read += 1
                if isinstance(cells, str):
                    report.rejected.append(Rejected(line, {}, cells))
                    continue
                values = dict(zip(header, cells, strict=False))
                if len(cells) > len(header):
                    report.rejected.append(Rejected(line, values, "too many cells"))
                    continue
                try:
                    entry = parse_row(values, org_ids)
                except ValueError as exc:
                    report.rejected.append(Rejected(line, values, str(exc)))
                    continue
                key = (entry.org_id, entry.source, entry.identifier_name, entry.identifier_value)
                if key in seen:
                    report.duplicates += 1
                    continue
                seen.add(key)
                yield entry
    except UnicodeDecodeError:  # the file changed since check_text_file read it
        raise RosterFileError(f"{path} is not UTF-8 text; save it as CSV UTF-8") from None
    except OSError as exc:
        raise RosterFileError(f"{path} cannot be read: {exc.strerror or exc}") from None


def rejects_path_for(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejects.csv")


def _write_rejects(path: Path, rejected: Iterable[Rejected]) -> None:
    columns = ["line", *REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "reason"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        out.writeheader()
        for item in rejected:
            out.writerow({**item.values, "line": item.line, "reason": item.reason})


def import_roster(
    engine: sa.Engine, path: Path, org_ids: Collection[int] | None = None
) -> ImportReport:
    """Load the good rows of `path` into customer_roster in one transaction.

    `org_ids` (CAPILLARY_ORG_IDS when set) limits the orgs a row may name. The file is
    checked to be UTF-8 text before the transaction starts; the rejects file is written
    only after the good rows committed.
    """
    if not path.is_file():
        raise RosterFileError(f"{path} is not a file")
    check_text_file(path)
    allowed = frozenset(org_ids) if org_ids else None
    report = ImportReport(path=path)
    with engine.begin() as conn:
        before = conn.scalar(sa.select(sa.func.count()).select_from(tables.customer_roster))
        result = writer.merge(
            conn,
            tables.customer_roster,
            (entry.as_row() for entry in read_roster(path, report, allowed)),
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
