"""Stand-ins for the database, the client and the event log, for the pass loop's decisions.

The loop's choices (what is set aside, quarantined, held, retried, counted) do not depend
on Postgres or HTTP, so these tests run in milliseconds; the real thing is exercised by
the sync tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from loyalty_sync.capillary.requeue import completed
from loyalty_sync.capillary.stats import ApiCounts
from loyalty_sync.sync.ledger import Checkpoint, PassOutcome
from loyalty_sync.sync.passes.chunks import ChunkRunner
from loyalty_sync.sync.passes.spec import Chunk
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse.scope import PartitionScope

SCOPE = RunScope.from_partition_keys("run-1", ["7-1"])


class FakeConn:
    def begin_nested(self) -> Any:
        return nullcontext()


class FakeEngine:
    @contextmanager
    def connect(self) -> Iterator[FakeConn]:
        yield FakeConn()

    @contextmanager
    def begin(self) -> Iterator[FakeConn]:
        yield FakeConn()


class FakeClock:
    def now(self) -> datetime:
        return datetime(2025, 7, 1, tzinfo=UTC)


class FakeStats:
    """Calls as the test says they were made."""

    def __init__(self) -> None:
        self.calls = 0

    def counts(self) -> ApiCounts:
        return ApiCounts(self.calls, 0, 0)

    def snapshot(self) -> dict[str, int]:
        return {"calls": self.calls, "retries": 0}


class FakeClient:
    """`imap` and `completed` in input order, an item's exception in its place."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.stats = FakeStats()
        self.asked: list[Any] = []

    def imap(
        self,
        fn: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        return_exceptions: bool = False,
        prefetch: int = 0,
    ) -> Iterator[Any]:
        for item in items:
            try:
                yield fn(item)
            except Exception as exc:
                yield exc

    def completed(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, prefetch: int = 0
    ) -> Iterator[tuple[Any, Any]]:
        """(item, answer) in input order: the order a pool with no retry waiting gives."""
        for item in items:
            try:
                yield item, fn(item)
            except Exception as exc:
                yield item, exc


class RequeueClient(FakeClient):
    """`completed` over the real requeue pool, one thread, on a clock the test moves."""

    def __init__(self) -> None:
        super().__init__()
        self.ticks = 0.0

    def completed(
        self, fn: Callable[[Any], Any], items: Iterable[Any], *, prefetch: int = 0
    ) -> Iterator[tuple[Any, Any]]:
        return completed(fn, items, 1, prefetch=prefetch, clock=lambda: self.ticks)


class FakeEvents:
    """An event log that keeps its rows in memory."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.codes: Counter[int] = Counter()
        self.placed: Counter[tuple[int, str | None, int]] = Counter()

    def add(self, **row: Any) -> None:
        self.rows.append(row)

    def add_error(self, error: Any, *, org_id: int, **context: Any) -> None:
        self.add(kind="error", message=error.message, org_id=org_id, **context)

    def mark(self) -> int:
        return len(self.rows)

    def undo(self, mark: int) -> None:
        del self.rows[mark:]

    def flush(self) -> None:
        pass


@dataclass
class FakePass:
    """A pass over the integers `items`; `answers` says what each call gives, in turn.

    An answer that is an exception is raised by `fetch`, as the client would.
    """

    items: list[int]
    answers: dict[int, list[Any]] = field(default_factory=dict)
    negatives: set[int] = field(default_factory=set)
    refuse: set[int] = field(default_factory=set)  # items whose rows the database refuses
    name: str = "fake"
    written: list[int] = field(default_factory=list)
    quarantined: list[int] = field(default_factory=list)
    fetched: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.items)

    def items_after(self, reader: Any, cursor: list[Any] | None) -> Iterator[int]:
        return (i for i in self.items if cursor is None or i > cursor[0])

    def cursor_of(self, item: int) -> list[Any]:
        return [item]

    def key_of(self, item: int) -> list[Any]:
        return [item]

    def item_from_key(self, key: list[Any]) -> int:
        return int(key[0])

    def fetch(self, item: int) -> Any:
        self.fetched.append(item)
        queue = self.answers.get(item, [])
        answer = queue.pop(0) if queue else f"answer {item}"
        if isinstance(answer, Exception):
            raise answer
        return answer

    def write(self, chunk: Chunk[int]) -> None:
        items = [i for i, _ in chunk.answered]
        if self.refuse & set(items):
            raise sa.exc.DataError("INSERT", {}, Exception("invalid byte sequence"))
        self.written += items
        chunk.served[("fake", "7-1")] += len(items)

    def context_of(self, item: int) -> dict[str, int | None]:
        return {"customer_id": item}

    def label(self, item: int) -> str:
        return f"item {item}"

    def quarantine(self, conn: Any, items: list[int]) -> None:
        self.quarantined += items

    def contradicts(self, conn: Any, answered: list[tuple[int, Any]]) -> set[int]:
        return {i for i, _ in answered if i in self.negatives}


def checkpoint(failed: list[list[Any]] | None = None) -> Checkpoint:
    partitions = PartitionScope.from_keys(["7-1"])
    return Checkpoint(1, "fake", partitions, resumed=bool(failed), failed=failed or [])


class FakeRunner(ChunkRunner[int]):
    """The real loop, saving its checkpoint and events to memory."""

    def __init__(self, spec: FakePass, check: Checkpoint, chunk_size: int = 2) -> None:
        super().__init__(
            FakeEngine(),  # type: ignore[arg-type]
            FakeClient(),  # type: ignore[arg-type]
            SCOPE,
            7,
            check,
            spec,
            PassOutcome(),
            chunk_size,
        )
        self.events = FakeEvents()
        self.saved: list[tuple[list[Any] | None, list[list[Any]], int]] = []

    def event_log(self, conn: Any) -> Any:
        return self.events

    def save(self, conn: Any) -> None:
        c = self.checkpoint
        self.saved.append((c.cursor, list(c.failed), c.items_done))
