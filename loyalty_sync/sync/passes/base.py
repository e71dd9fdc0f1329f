"""The shape of a pass: what items, fetch one, map and write a chunk, finish.

A pass (customers, promotions, benefits) is a subclass of `OrgPass`, made once per org
of the run: the loop over orgs, checkpoints and progress is `loop.PassLoop`'s, the loop
over items and chunks `chunks.ChunkRunner`', and the judged deletes at the end
`finish.PassEnd`'s. What is left to a pass is what makes it itself, one method each.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar, Generic

import sqlalchemy as sa

from loyalty_sync.capillary.client import CapillaryClient
from loyalty_sync.sync.ledger import PassOutcome
from loyalty_sync.sync.passes.chunks import ChunkRunner
from loyalty_sync.sync.passes.finish import Deletes, PassEnd
from loyalty_sync.sync.passes.loop import OrgWork, PassLoop, PassRun
from loyalty_sync.sync.passes.options import PassOptions
from loyalty_sync.sync.passes.spec import Chunk, T
from loyalty_sync.sync.scope import RunScope


class OrgPass(ABC, Generic[T]):
    """One pass over one org's programs; the subclass says what makes the pass itself."""

    name: ClassVar[str]  # the pass's name in checkpoints, sync_runs and progress
    tables: ClassVar[tuple[sa.Table, ...]]  # what it writes (its assets)

    def __init__(self, run: PassRun, org: OrgWork) -> None:
        self.run, self.org = run, org
        self.org_id, self.partitions = org.org_id, org.partitions
        self.total = 0  # items to fetch; `prepare` knows

    @classmethod
    def sync(
        cls,
        engine: sa.Engine,
        client: CapillaryClient,
        scope: RunScope,
        options: PassOptions,
    ) -> PassOutcome:
        """The pass over every org of `scope`, each from its own checkpoint."""
        return PassLoop(cls, PassRun(engine, client, scope, options)).run_all()

    def sync_org(self) -> None:
        """Prepare, answer and write every item a chunk at a time, then finish."""
        self.prepare()
        run = self.run
        waiting = ChunkRunner(
            run.engine,
            run.client,
            run.scope,
            self.org_id,
            self.org.checkpoint,
            self,
            self.org.outcome,
            run.options.chunk_size,
        ).run()
        PassEnd(run.engine, run.scope, run.options, self, waiting).apply()

    def prepare(self) -> None:
        """Read what the pass needs before its first item (a plan, the catalogue)."""

    # -- what items --------------------------------------------------------------------

    @abstractmethod
    def items_after(self, reader: sa.Connection, cursor: list[Any] | None) -> Iterator[T]:
        """The items to fetch, in the pass's order, after a checkpoint's `cursor`."""

    @abstractmethod
    def cursor_of(self, item: T) -> list[Any]:
        """The item's sort key, stored as the checkpoint's cursor."""

    def key_of(self, item: T) -> list[Any]:
        """The item as a checkpoint stores it when set aside."""
        return list(item)  # type: ignore[call-overload]

    @abstractmethod
    def item_from_key(self, key: list[Any]) -> T:
        """The item back from `key_of`."""

    # -- fetch one, map and write a chunk ----------------------------------------------

    @abstractmethod
    def fetch(self, item: T) -> Any:
        """The item's answer (called on the client's pool, in parallel)."""

    @abstractmethod
    def write(self, chunk: Chunk[T]) -> None:
        """Map the chunk's answers to rows and merge them."""

    # -- naming and guards -------------------------------------------------------------

    def context_of(self, item: T) -> dict[str, int | None]:
        """The api_events columns that name the item."""
        return {}

    def label(self, item: T) -> str:
        """How messages name the item: its context, `customer 7 program 2`."""
        context = {k: v for k, v in self.context_of(item).items() if v is not None}
        return " ".join(f"{k.removesuffix('_id')} {v}" for k, v in context.items())

    def quarantine(self, conn: sa.Connection, items: list[T]) -> None:
        """Make `items` due again next sync (only change-driven passes skip any)."""

    def contradicts(self, conn: sa.Connection, answered: list[tuple[T, Any]]) -> set[T]:
        """Answered items whose negative answer contradicts stored rows (they wait)."""
        return set()

    # -- finish ------------------------------------------------------------------------

    @abstractmethod
    def deletes(self) -> list[Deletes]:
        """The tables the pass deletes from at its end, once judged."""

    def after_deletes(self, conn: sa.Connection, held_back: bool) -> None:
        """More to write in the end's transaction (`held_back`: the guards held deletes)."""
