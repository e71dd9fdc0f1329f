"""The loop every pass shares: items in a stable order, answered a chunk at a time, each
chunk's rows committed with the pass's checkpoint.

Why chunks with a checkpoint: a pass over a real brand's roster is hours of calls. A kill,
a crash or an outage must cost at most the chunk in flight, so each chunk commits its rows
together with the sort key of its last item; a rerun asks only for the items after it.

Why set items aside: one customer whose calls keep failing must not undo the other
999,999. An item whose call exhausted its retries is set aside and tried once more when
the rest of the pass is done (the API has likely recovered by then). Still failing, it
stays in the checkpoint; the pass fails naming it, its previous rows stay, and the next
run takes it first. Answers that asking again cannot change (not found, bad request) are
recorded and skipped. Anything else (credentials, configuration) fails the pass at once;
the chunks already committed stay.

Why quarantine: an answer that cannot be parsed, validated or stored (`UnusableAnswer`, or
a row the database refuses) is one hostile record, not an outage. It is recorded in
api_events naming the endpoint, the item and what was wrong; the item keeps its stored
rows and its next sync fetches it again (`quarantine` in the spec); the pass goes on.
Only when more than `MAX_QUARANTINED_SHARE` of the items it fetched are quarantined (a
change at Capillary, not a record) does the pass fail, in one line naming the share and
the first few items.

Why negatives wait: "not found" or "no benefits" for an item that has stored rows
contradicts them, and the same answer for most of a pass is what a broken API looks like
(a partition emptied in one exit-0 sync). Such answers (`contradicts` in the spec) are
not written by their chunk: they wait for the end of the pass, which applies them only
when they are few (`MassNegatives`); otherwise every delete and overwrite of the pass is
held back, and nothing written contradicts the rows kept. Their items are due again next
sync, so an interrupted pass loses none of them.

Deletes wait for the whole pass: a chunk records the rows its items no longer have (see
`writer.HeldDeletes`), and `finish` applies them, with the rows of items gone altogether,
in the one transaction that marks the pass complete.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice, tee
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from loyalty_sync.capillary.client import CapillaryClient
from loyalty_sync.capillary.errors import (
    BadRequest,
    CapillaryError,
    NotFound,
    RetriesExhausted,
    TransientError,
    UnusableAnswer,
)
from loyalty_sync.sync.ledger import Checkpoint, EventLog, PassOutcome, save_checkpoint
from loyalty_sync.sync.progress import reporter
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse.writer import HeldDeletes, MergeResult

T = TypeVar("T")
# How many items the end-of-pass error names.
NAMED_FAILURES = 5
# A pass fails when more than this share of the items it fetched were quarantined, and
# at least QUARANTINE_FLOOR of them: fewer is hostile records, not a changed API.
MAX_QUARANTINED_SHARE = 0.2
QUARANTINE_FLOOR = 3
# Negative answers contradicting stored rows are suspect when more than this share of a
# pass's answers, and at least NEGATIVE_FLOOR of them: a partition of 5 rows all "not
# found" is suspect, one customer of 3 deleted is not.
MAX_NEGATIVE_SHARE = 0.2
NEGATIVE_FLOOR = 3


class Disposition(StrEnum):
    """What a pass does with an item whose call raised: the one skip-or-retry-later rule."""

    SKIP = "skip"  # recorded in api_events; asking again cannot change the answer
    QUARANTINE = "quarantine"  # recorded; rows kept; fetched again by the next sync
    LATER = "later"  # set aside, tried again at the end of the pass and by the next run
    FAIL = "fail"  # the pass fails now


def disposition(error: BaseException) -> Disposition:
    if isinstance(error, UnusableAnswer):
        return Disposition.QUARANTINE
    if isinstance(error, NotFound | BadRequest):
        return Disposition.SKIP
    if isinstance(error, RetriesExhausted | TransientError):
        return Disposition.LATER
    return Disposition.FAIL


class ItemsFailedError(RuntimeError):
    """Some items of a pass failed even after being set aside and tried again."""


class TooManyQuarantinedError(ItemsFailedError):
    """So many answers of a pass were unusable that the API itself must have changed."""


@dataclass
class Chunk(Generic[T]):
    """One chunk's answered items, and where its rows and held deletes go."""

    conn: sa.Connection
    answered: list[tuple[T, Any]]  # an answer, or the skippable error in its place
    events: EventLog
    checkpoint: Checkpoint
    served: Counter[tuple[str, str]] = field(default_factory=Counter)
    merges: list[MergeResult] = field(default_factory=list)

    def held(
        self,
        item_columns: tuple[str, ...],
        items: Iterable[tuple[Any, ...]],
        reshaped: Iterable[tuple[Any, ...]] = (),
    ) -> HeldDeletes:
        return HeldDeletes(
            self.checkpoint.id, item_columns, sorted(set(items)), sorted(set(reshaped))
        )


@dataclass
class PassSpec(Generic[T]):
    """What makes one pass itself; `run_chunks` does the rest."""

    name: str
    items_after: Callable[[sa.Connection, list[Any] | None], Iterator[T]]
    cursor_of: Callable[[T], list[Any]]
    key_of: Callable[[T], list[Any]]
    item_from_key: Callable[[list[Any]], T]
    fetch: Callable[[T], Any]
    write: Callable[[Chunk[T]], None]
    context_of: Callable[[T], dict[str, int | None]]
    total: int = 0
    # Marks quarantined items so that the next sync fetches them again (change-driven
    # passes); how an item is named in messages.
    quarantine: Callable[[sa.Connection, list[T]], None] | None = None
    label_of: Callable[[T], str] | None = None
    # The answered items whose answer is negative ("not found", "no benefits") while
    # rows of theirs are stored: they wait for the end of the pass (`MassNegatives`).
    contradicts: Callable[[sa.Connection, list[tuple[T, Any]]], set[T]] | None = None

    def label(self, item: T) -> str:
        if self.label_of is not None:
            return self.label_of(item)
        context = {k: v for k, v in self.context_of(item).items() if v is not None}
        return " ".join(f"{k.removesuffix('_id')} {v}" for k, v in context.items())


@dataclass
class MassNegatives(Generic[T]):
    """Negative answers that contradict stored rows, held until the pass can judge them."""

    answered: int = 0
    waiting: list[tuple[T, Any]] = field(default_factory=list)

    @property
    def suspect(self) -> bool:
        n = len(self.waiting)
        return n >= NEGATIVE_FLOOR and n > MAX_NEGATIVE_SHARE * self.answered

    def describe(self, spec: PassSpec[T]) -> str:
        n = len(self.waiting)
        named = ", ".join(spec.label(item) for item, _ in self.waiting[:3])
        return (
            f"{n} of {self.answered} answers ({n / max(self.answered, 1):.0%}, more than "
            f"{MAX_NEGATIVE_SHARE:.0%}) said 'not found' or 'no benefits' for items with "
            f"stored rows (first: {named})"
        )


@dataclass
class Quarantine(Generic[T]):
    """The items of one pass run whose answers could not be used, with why."""

    fetched: int = 0
    items: list[tuple[T, str]] = field(default_factory=list)

    def check(self, spec: PassSpec[T], org_id: int) -> None:
        """Fail the pass when the share says the API changed, not a record."""
        n = len(self.items)
        if n < QUARANTINE_FLOOR or n <= MAX_QUARANTINED_SHARE * self.fetched:
            return
        named = "; ".join(f"{spec.label(i)}: {why}" for i, why in self.items[:3])
        raise TooManyQuarantinedError(
            f"{spec.name} pass of org {org_id}: {n} of {self.fetched} answers "
            f"({n / max(self.fetched, 1):.0%}, more than {MAX_QUARANTINED_SHARE:.0%}) could "
            f"not be used, so the API itself may have changed ({named}); their stored rows "
            "are kept"
        )


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _answered(
    client: CapillaryClient, fetch: Callable[[Any], Any], items: Iterable[Any], prefetch: int
) -> Iterator[tuple[Any, Any]]:
    """(item, answer or its exception) in input order, with a chunk of calls queued ahead.

    The pool keeps calling while the pass maps and commits the previous chunk, so a
    checkpoint commit does not leave the rate-limit budget idle.
    """
    listed, to_fetch = tee(items)
    answers = client.imap(fetch, to_fetch, return_exceptions=True, prefetch=prefetch)
    return zip(listed, answers, strict=True)


def run_chunks(
    engine: sa.Engine,
    client: CapillaryClient,
    scope: RunScope,
    org_id: int,
    checkpoint: Checkpoint,
    spec: PassSpec[T],
    outcome: PassOutcome,
    chunk_size: int,
) -> MassNegatives[T]:
    """Answer every item after the checkpoint (set-aside ones first) and commit by chunk.

    Returns the negative answers that contradict stored rows, for the pass's end to judge.

    Raises `ItemsFailedError` when items still fail after their second chance; everything
    else that was answered is committed, and the checkpoint names what is left.
    """
    progress = reporter()
    task = f"{spec.name} {org_id}"  # started by the pass, before its first call
    progress.expect(task, max(spec.total - checkpoint.items_done, 0) + len(checkpoint.failed))
    retry_first = [spec.item_from_key(k) for k in checkpoint.failed]
    set_aside: list[T] = []
    quarantine: Quarantine[T] = Quarantine()
    negatives: MassNegatives[T] = MassNegatives()
    waiting = {id(item) for item in retry_first}

    def stream() -> Iterator[tuple[T, bool]]:
        yield from ((item, False) for item in retry_first)
        with engine.connect() as reader:
            for item in spec.items_after(reader, checkpoint.cursor):
                yield item, True

    def commit(chunk: list[tuple[tuple[T, bool], Any]]) -> None:
        answered: list[tuple[T, Any]] = []
        unusable: list[tuple[T, UnusableAnswer]] = []
        for (item, in_order), answer in chunk:
            waiting.discard(id(item))
            if in_order:
                checkpoint.cursor = spec.cursor_of(item)
            if isinstance(answer, Exception):
                verdict = disposition(answer)
                if verdict is Disposition.FAIL:
                    raise answer
                if verdict is Disposition.LATER:
                    set_aside.append(item)
                    continue
                if verdict is Disposition.QUARANTINE:
                    unusable.append((item, answer))  # type: ignore[arg-type]
                    continue
            answered.append((item, answer))
        quarantine.fetched += len(answered) + len(unusable)
        with engine.begin() as conn:
            events = EventLog(conn, scope, occurred_at=client.clock.now())
            for item, answer in answered:
                if isinstance(answer, CapillaryError):
                    events.add_error(answer, org_id=org_id, **spec.context_of(item))
            negatives.answered += len(answered)
            if spec.contradicts is not None and answered:
                later = spec.contradicts(conn, answered)
                negatives.waiting += [(i, a) for i, a in answered if i in later]
                answered = [(i, a) for i, a in answered if i not in later]
                checkpoint.items_done += len(later)
                if spec.quarantine is not None and later:
                    spec.quarantine(conn, list(later))  # due again if the pass never ends
            kept = _write_isolating(conn, spec, Chunk(conn, answered, events, checkpoint))
            unusable += kept.refused
            _quarantine(conn, spec, org_id, events, unusable, quarantine)
            for merge in kept.work.merges:
                outcome.add_merge(merge)
            outcome.add_events(events)
            checkpoint.served.update(kept.work.served)
            checkpoint.items_done += len(answered) + len(unusable) - len(kept.refused)
            pending = [i for i in retry_first if id(i) in waiting]
            checkpoint.failed = [spec.key_of(i) for i in [*pending, *set_aside]]
            save_checkpoint(conn, checkpoint)

    def fetch(pair: tuple[T, bool]) -> Any:
        return spec.fetch(pair[0])

    def counted(answers: Iterator[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        """Each item counts as done when it is answered, not when its chunk commits."""
        for answer in answers:
            progress.advance(task)
            yield answer

    for chunk in _chunks(counted(_answered(client, fetch, stream(), chunk_size)), chunk_size):
        commit(chunk)
    if set_aside:
        outcome.set_aside += len(set_aside)
        second = [(item, False) for item in set_aside]
        set_aside.clear()
        for chunk in _chunks(_answered(client, fetch, second, chunk_size), chunk_size):
            commit(chunk)
    outcome.quarantined += len(quarantine.items)
    quarantine.check(spec, org_id)
    if set_aside:
        named = ", ".join(str(spec.key_of(i)) for i in set_aside[:NAMED_FAILURES])
        more = (
            f" and {len(set_aside) - NAMED_FAILURES} more"
            if len(set_aside) > NAMED_FAILURES
            else ""
        )
        raise ItemsFailedError(
            f"{spec.name} pass of org {org_id}: {len(set_aside)} item(s) still failing after "
            f"a second try ({named}{more}); their previous rows are kept and the next run "
            "takes them first"
        )
    return negatives


# What the database says of a row it cannot store (a NUL byte, a number out of range).
REFUSED = (sa.exc.DataError, sa.exc.IntegrityError, UnicodeError)


@dataclass
class _Written(Generic[T]):
    work: Chunk[T]
    refused: list[tuple[T, UnusableAnswer]]


def _write_isolating(conn: sa.Connection, spec: PassSpec[T], work: Chunk[T]) -> _Written[T]:
    """Write the chunk; if the database refuses a row, write it item by item instead.

    Answers are vetted before they get here, so this is the net under what vetting did
    not foresee: each item then goes in its own savepoint, and an item whose rows are
    refused is quarantined instead of failing the chunk and its pass.
    """
    mark = work.events.mark()
    try:
        with conn.begin_nested():
            spec.write(work)
        return _Written(work, [])
    except REFUSED as first:
        work.events.undo(mark)
        if len(work.answered) == 1:
            return _Written(_empty_like(work), [(work.answered[0][0], _refused(first))])
    whole = _empty_like(work)
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
    return _Written(whole, refused)


def _empty_like(work: Chunk[T]) -> Chunk[T]:
    return Chunk(work.conn, [], work.events, work.checkpoint)


def _refused(error: BaseException) -> UnusableAnswer:
    orig = getattr(error, "orig", None) or error
    text = " ".join(str(orig).split())[:160]
    return UnusableAnswer(None, f"the warehouse refused its rows: {text}", "warehouse")


def _quarantine(
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
    if spec.quarantine is not None and unusable:
        spec.quarantine(conn, [item for item, _ in unusable])
