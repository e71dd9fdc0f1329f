"""The loop every pass shares: items in a stable order, answered a chunk at a time, each
chunk's rows committed with the pass's checkpoint.

Why chunks with a checkpoint: a pass over a real brand's roster is hours of calls. A kill,
a crash or an outage must cost at most the chunk in flight, so each chunk commits its rows
together with the sort key of its last item; a rerun asks only for the items after it.
What happens to answers that are errors, unusable or negative is `verdicts.py`'s; how a
row the database refuses is kept to its item is `isolation.py`'s.

Deletes wait for the whole pass: a chunk records the rows its items no longer have (see
`writer.HeldDeletes`), and the pass's end (`finish.py`) applies them, with the rows of
items gone altogether, in the one transaction that marks the pass complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, Generic, NamedTuple

import sqlalchemy as sa

from loyalty_sync.capillary.client import CapillaryClient
from loyalty_sync.capillary.errors import CapillaryError, UnusableAnswer
from loyalty_sync.sync.ledger import Checkpoint, EventLog, PassOutcome, save_checkpoint
from loyalty_sync.sync.passes.isolation import Written, record_quarantined, write_isolating
from loyalty_sync.sync.passes.spec import Chunk, PassSpec, T
from loyalty_sync.sync.passes.verdicts import (
    Disposition,
    MassNegatives,
    Quarantine,
    disposition,
    still_failing,
)
from loyalty_sync.sync.progress import reporter
from loyalty_sync.sync.scope import RunScope


class Queued(NamedTuple, Generic[T]):
    """An item to fetch; `in_order` when it comes from the stream (it moves the cursor),
    `place` its position in the stream."""

    item: T
    in_order: bool
    place: int = -1


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class ChunkRunner(Generic[T]):
    """One org's items through one pass: answered, sorted out, committed by chunk."""

    def __init__(
        self,
        engine: sa.Engine,
        client: CapillaryClient,
        scope: RunScope,
        org_id: int,
        checkpoint: Checkpoint,
        spec: PassSpec[T],
        outcome: PassOutcome,
        chunk_size: int,
    ) -> None:
        self.engine, self.client, self.scope, self.org_id = engine, client, scope, org_id
        self.checkpoint, self.spec, self.outcome = checkpoint, spec, outcome
        self.chunk_size = chunk_size
        self.task = f"{spec.name} {org_id}"  # started by the pass, before its first call
        self.retry_first = [Queued(spec.item_from_key(k), False) for k in checkpoint.failed]
        # Items taken but not committed yet, by id of their Queued, in the order taken.
        self.waiting: dict[int, Queued[T]] = {id(q): q for q in self.retry_first}
        self.cursor_place = -1  # the place of the in-order item the cursor names
        self.set_aside: list[T] = []
        self.quarantined: Quarantine[T] = Quarantine()
        self.negatives: MassNegatives[T] = MassNegatives()

    def run(self) -> MassNegatives[T]:
        """Answer every item after the checkpoint (set-aside ones first) and commit by chunk.

        Returns the negative answers that contradict stored rows, for the pass's end to
        judge. Raises `ItemsFailedError` when items still fail after their second chance;
        everything else that was answered is committed, and the checkpoint names what is
        left.
        """
        progress = reporter()
        left = max(self.spec.total - self.checkpoint.items_done, 0)
        progress.expect(self.task, left + len(self.checkpoint.failed))
        self._commit_all(self._counted(self._stream()))
        self._second_chance()
        self.outcome.quarantined += len(self.quarantined.items)
        self.quarantined.check(self.spec, self.org_id)
        if self.set_aside:
            raise still_failing(self.spec, self.org_id, self.set_aside)
        return self.negatives

    def _stream(self) -> Iterator[Queued[T]]:
        yield from self.retry_first
        with self.engine.connect() as reader:
            items = self.spec.items_after(reader, self.checkpoint.cursor)
            for place, item in enumerate(items):
                yield Queued(item, True, place)

    def _taken(self, items: Iterable[Queued[T]]) -> Iterator[Queued[T]]:
        for queued in items:
            self.waiting[id(queued)] = queued
            yield queued

    def _answered(self, items: Iterable[Queued[T]]) -> Iterator[tuple[Queued[T], Any]]:
        """(item, answer or its exception) as each comes, with a chunk of calls queued ahead.

        The pool keeps calling while the pass maps and commits the previous chunk, so a
        checkpoint commit does not leave the rate-limit budget idle; and an item waiting
        to retry holds up neither the pool nor the chunk (the cursor stays behind it).
        """
        return self.client.completed(self._fetch, self._taken(items), prefetch=self.chunk_size)

    def _fetch(self, queued: Queued[T]) -> Any:
        return self.spec.fetch(queued.item)

    def _counted(self, items: Iterable[Queued[T]]) -> Iterator[tuple[Queued[T], Any]]:
        """Each item counts as done when it is answered, not when its chunk commits."""
        progress = reporter()
        for answer in self._answered(items):
            progress.advance(self.task)
            yield answer

    def _commit_all(self, answers: Iterable[tuple[Queued[T], Any]]) -> None:
        for chunk in _chunks(answers, self.chunk_size):
            self._commit(chunk)

    def _second_chance(self) -> None:
        """The items set aside, once more now that the rest of the pass is done."""
        if not self.set_aside:
            return
        self.outcome.set_aside += len(self.set_aside)
        second = [Queued(item, False) for item in self.set_aside]
        self.waiting.update((id(q), q) for q in second)  # in the checkpoint until committed
        self.set_aside.clear()
        self._commit_all(self._answered(second))

    def sort(
        self, chunk: list[tuple[Queued[T], Any]]
    ) -> tuple[list[tuple[T, Any]], list[tuple[T, UnusableAnswer]]]:
        """Move the cursor, and split a chunk's answers: to write, unusable, set aside.

        An error that fails the pass is raised here, before anything of the chunk commits.
        """
        answered: list[tuple[T, Any]] = []
        unusable: list[tuple[T, UnusableAnswer]] = []
        for queued, answer in chunk:
            item = queued.item
            self.waiting.pop(id(queued), None)
            if queued.in_order and queued.place > self.cursor_place:
                self.checkpoint.cursor = self.spec.cursor_of(item)
                self.cursor_place = queued.place
            verdict = disposition(answer) if isinstance(answer, Exception) else None
            if verdict is Disposition.FAIL:
                raise answer
            if verdict is Disposition.LATER:
                self.set_aside.append(item)
            elif verdict is Disposition.QUARANTINE:
                unusable.append((item, answer))
            else:
                answered.append((item, answer))
        return answered, unusable

    def _commit(self, chunk: list[tuple[Queued[T], Any]]) -> None:
        answered, unusable = self.sort(chunk)
        self.quarantined.fetched += len(answered) + len(unusable)
        with self.engine.begin() as conn:
            events = self.event_log(conn)
            for item, answer in answered:
                if isinstance(answer, CapillaryError):
                    events.add_error(answer, org_id=self.org_id, **self.spec.context_of(item))
            answered = self._hold_negatives(conn, answered)
            kept = write_isolating(conn, self.spec, Chunk(conn, answered, events, self.checkpoint))
            unusable += kept.refused
            record_quarantined(conn, self.spec, self.org_id, events, unusable, self.quarantined)
            self._account(events, kept)
            self.checkpoint.items_done += len(answered) + len(unusable) - len(kept.refused)
            self.save(conn)

    def event_log(self, conn: sa.Connection) -> EventLog:
        """Where the chunk's api_events go, stamped when its answers came."""
        return EventLog(conn, self.scope, occurred_at=self.client.clock.now())

    def save(self, conn: sa.Connection) -> None:
        """The checkpoint, in the chunk's transaction: its rows and its cursor go together."""
        save_checkpoint(conn, self.checkpoint)

    def _hold_negatives(
        self, conn: sa.Connection, answered: list[tuple[T, Any]]
    ) -> list[tuple[T, Any]]:
        """Answers that contradict stored rows wait for the end of the pass; the rest go on."""
        self.negatives.answered += len(answered)
        later = self.spec.contradicts(conn, answered) if answered else set()
        if not later:
            return answered
        self.negatives.waiting += [(i, a) for i, a in answered if i in later]
        self.checkpoint.items_done += len(later)
        self.spec.quarantine(conn, list(later))  # due again if the pass never ends
        return [(i, a) for i, a in answered if i not in later]

    def _account(self, events: EventLog, kept: Written[T]) -> None:
        """The chunk's merges, events and rows served; what is still to retry."""
        for merge in kept.work.merges:
            self.outcome.add_merge(merge)
        self.outcome.add_events(events)
        self.checkpoint.served.update(kept.work.served)
        self.checkpoint.failed = [self.spec.key_of(i) for i in [*self.pending(), *self.set_aside]]

    def pending(self) -> list[T]:
        """Items not committed yet that a rerun would not ask for after the cursor: a
        previous run's failures, and items behind the cursor still waiting to retry."""
        return [
            q.item for q in self.waiting.values() if not q.in_order or q.place < self.cursor_place
        ]
