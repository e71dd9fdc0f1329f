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
)
from loyalty_sync.sync.ledger import Checkpoint, EventLog, PassOutcome, save_checkpoint
from loyalty_sync.sync.progress import reporter
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse.writer import HeldDeletes, MergeResult

T = TypeVar("T")
# How many items the end-of-pass error names.
NAMED_FAILURES = 5


class Disposition(StrEnum):
    """What a pass does with an item whose call raised: the one skip-or-retry-later rule."""

    SKIP = "skip"  # recorded in api_events; asking again cannot change the answer
    LATER = "later"  # set aside, tried again at the end of the pass and by the next run
    FAIL = "fail"  # the pass fails now


def disposition(error: BaseException) -> Disposition:
    if isinstance(error, NotFound | BadRequest):
        return Disposition.SKIP
    if isinstance(error, RetriesExhausted | TransientError):
        return Disposition.LATER
    return Disposition.FAIL


class ItemsFailedError(RuntimeError):
    """Some items of a pass failed even after being set aside and tried again."""


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
) -> None:
    """Answer every item after the checkpoint (set-aside ones first) and commit by chunk.

    Raises `ItemsFailedError` when items still fail after their second chance; everything
    else that was answered is committed, and the checkpoint names what is left.
    """
    progress = reporter()
    task = f"{spec.name} {org_id}"  # started by the pass, before its first call
    progress.expect(task, max(spec.total - checkpoint.items_done, 0) + len(checkpoint.failed))
    retry_first = [spec.item_from_key(k) for k in checkpoint.failed]
    set_aside: list[T] = []
    waiting = {id(item) for item in retry_first}

    def stream() -> Iterator[tuple[T, bool]]:
        yield from ((item, False) for item in retry_first)
        with engine.connect() as reader:
            for item in spec.items_after(reader, checkpoint.cursor):
                yield item, True

    def commit(chunk: list[tuple[tuple[T, bool], Any]]) -> None:
        answered: list[tuple[T, Any]] = []
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
            answered.append((item, answer))
        with engine.begin() as conn:
            events = EventLog(conn, scope, occurred_at=client.clock.now())
            for item, answer in answered:
                if isinstance(answer, CapillaryError):
                    events.add_error(answer, org_id=org_id, **spec.context_of(item))
            work = Chunk(conn, answered, events, checkpoint)
            spec.write(work)
            for merge in work.merges:
                outcome.add_merge(merge)
            outcome.add_events(events)
            checkpoint.served.update(work.served)
            checkpoint.items_done += len(answered)
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
