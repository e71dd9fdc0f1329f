"""What the chunk loop asks of a pass (`PassSpec`), and the chunk it hands back (`Chunk`).

The loop (`chunks.py`) knows nothing of customers or promotions: it streams a pass's
items, asks for their answers, sorts out the failures and commits each chunk with the
checkpoint. Everything that makes a pass itself is one of the methods below, which
`base.OrgPass` implements for the three passes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa

from loyalty_sync.sync.ledger import Checkpoint, EventLog
from loyalty_sync.warehouse.writer import HeldDeletes, MergeResult

T = TypeVar("T")


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

    def empty_like(self) -> Chunk[T]:
        """A chunk of no items writing to the same place (to gather item by item)."""
        return Chunk(self.conn, [], self.events, self.checkpoint)


class PassSpec(Protocol[T]):
    """What makes one pass over one org itself; `chunks.ChunkRunner` does the rest."""

    name: str
    total: int  # items to fetch, for the progress bar

    def items_after(self, reader: sa.Connection, cursor: list[Any] | None) -> Iterator[T]:
        """The items to fetch, in the pass's order, after a checkpoint's `cursor`."""

    def cursor_of(self, item: T) -> list[Any]:
        """The item's sort key, stored as the checkpoint's cursor."""

    def key_of(self, item: T) -> list[Any]:
        """The item as the checkpoint stores a set-aside one (JSON)."""

    def item_from_key(self, key: list[Any]) -> T:
        """The item back from `key_of`."""

    def fetch(self, item: T) -> Any:
        """The item's answer (called on the client's pool)."""

    def write(self, chunk: Chunk[T]) -> None:
        """Map and write the answers of a chunk."""

    def context_of(self, item: T) -> dict[str, int | None]:
        """The api_events columns that name the item."""

    def label(self, item: T) -> str:
        """How messages name the item."""

    def quarantine(self, conn: sa.Connection, items: list[T]) -> None:
        """Make `items` due again next sync (their answers could not be used)."""

    def contradicts(self, conn: sa.Connection, answered: list[tuple[T, Any]]) -> set[T]:
        """Answered items whose negative answer contradicts stored rows (they wait)."""
