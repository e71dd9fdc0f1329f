"""Writing a chunk so that one row the database refuses costs one item, not the pass.

Answers are vetted before they are written, so this is the net under what vetting did
not foresee (a NUL byte, a number out of range): the chunk is written whole in a
savepoint; if the database refuses a row, each item goes in its own savepoint instead,
and an item whose rows are refused is quarantined: recorded in api_events naming the
endpoint, the item and what was wrong; it keeps its stored rows and its next sync
fetches it again; the pass goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic

import sqlalchemy as sa

from loyalty_sync.capillary.errors import UnusableAnswer
from loyalty_sync.sync.ledger import EventLog
from loyalty_sync.sync.passes.spec import Chunk, PassSpec, T
from loyalty_sync.sync.passes.verdicts import Quarantine

# What the database says of a row it cannot store (a NUL byte, a number out of range).
REFUSED = (sa.exc.DataError, sa.exc.IntegrityError, UnicodeError)


@dataclass
class Written(Generic[T]):
    work: Chunk[T]
    refused: list[tuple[T, UnusableAnswer]]


def write_isolating(conn: sa.Connection, spec: PassSpec[T], work: Chunk[T]) -> Written[T]:
    """Write the chunk; if the database refuses a row, write it item by item instead."""
    mark = work.events.mark()
    try:
        with conn.begin_nested():
            spec.write(work)
        return Written(work, [])
    except REFUSED as first:
        work.events.undo(mark)
        if len(work.answered) == 1:
            return Written(work.empty_like(), [(work.answered[0][0], _refused(first))])
    return _item_by_item(conn, spec, work)


def _item_by_item(conn: sa.Connection, spec: PassSpec[T], work: Chunk[T]) -> Written[T]:
    whole = work.empty_like()
    refused: list[tuple[T, UnusableAnswer]] = []
    for one in work.answered:
        single = Chunk(conn, [one], work.events, work.checkpoint)
        mark = work.events.mark()
        try:
            with conn.begin_nested():
                spec.write(single)
        except REFUSED as exc:
            work.events.undo(mark)
            refused.append((one[0], _refused(exc)))
            continue
        whole.served.update(single.served)
        whole.merges.extend(single.merges)
    return Written(whole, refused)


def _refused(error: BaseException) -> UnusableAnswer:
    orig = getattr(error, "orig", None) or error
    text = " ".join(str(orig).split())[:160]
    return UnusableAnswer(None, f"the warehouse refused its rows: {text}", "warehouse")


def record_quarantined(
    conn: sa.Connection,
    spec: PassSpec[T],
    org_id: int,
    events: EventLog,
    unusable: list[tuple[T, UnusableAnswer]],
    quarantine: Quarantine[T],
) -> None:
    """Record each unusable answer in one line, and make its item due next sync."""
    for item, error in unusable:
        events.add(
            endpoint=error.endpoint or spec.name,
            code=None,
            kind="quarantined",
            message=f"{spec.label(item)}: {error.message}; the stored rows are kept and the "
            "next sync asks again",
            org_id=org_id,
            http_status=error.http_status,
            **spec.context_of(item),
        )
        quarantine.items.append((item, error.message))
    if unusable:
        spec.quarantine(conn, [item for item, _ in unusable])
