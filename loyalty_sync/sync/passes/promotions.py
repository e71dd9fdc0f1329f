"""The promotions pass: promotionData (every page) per customer, plus the org's catalogue
-> promotions and customer promotions.

Change-driven: only customers whose signals say their promotions may have changed are
fetched (`change_signals.py`). Catalogue promotions nobody holds yet are stored too, and a
promotion that nothing lists any more is deleted at the end, with the pass's other
deletes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from loyalty_sync.capillary.errors import NotFound
from loyalty_sync.capillary.models import CustomerPromotions
from loyalty_sync.sync import change_signals
from loyalty_sync.sync import rows as to_rows
from loyalty_sync.sync.passes.base import OrgPass
from loyalty_sync.sync.passes.finish import Deletes
from loyalty_sync.sync.passes.plans import capillary_now, found_customers
from loyalty_sync.sync.passes.promotion_queries import customers_to_fetch, suspiciously_emptied
from loyalty_sync.sync.passes.promotion_rows import PromotionBatch, PromotionKey
from loyalty_sync.sync.passes.spec import Chunk
from loyalty_sync.sync.planned import PlannedItems
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import partition_key
from loyalty_sync.warehouse.writer import MergeResult, StagedMerge

PROMOTION_ORDER = ["customer_id"]
_HELD = tables.customer_promotions


class PromotionsPass(OrgPass[int]):
    """promotionData (every page) per customer, plus the org's catalogue -> promotions."""

    name = "promotions"
    tables = (tables.promotions, tables.customer_promotions)

    def prepare(self) -> None:
        run, org_id = self.run, self.org_id
        self.catalogue = {
            p.promotion_id: p
            for p in run.client.promotion_catalogue(org_id).promotions
            if p.promotion_id is not None and (org_id, p.program_id) in self.partitions
        }
        self.written: set[PromotionKey] = set()  # promotions mapped so far, across chunks
        now = capillary_now(run.engine, run.client, run.scope, org_id)
        self.plan = change_signals.plan(run.options.policy, now, self.catalogue.values())
        query = customers_to_fetch(org_id, self.partitions, self.plan)
        self.planned = PlannedItems(run.engine, query, PROMOTION_ORDER)
        self.org.outcome.org_signals(org_id).add(self.planned.signals)
        self.total = self.planned.total

    def items_after(self, reader: sa.Connection, cursor: list[Any] | None) -> Iterator[int]:
        return (item[0] for item in self.planned.items_after(reader, cursor))

    def cursor_of(self, item: int) -> list[Any]:
        return [item]

    def key_of(self, item: int) -> list[Any]:
        return [item]

    def item_from_key(self, key: list[Any]) -> int:
        return int(key[0])

    def fetch(self, item: int) -> CustomerPromotions:
        return self.run.client.promotion_data(self.org_id, "id", item)

    def context_of(self, item: int) -> dict[str, int | None]:
        return {"customer_id": item}

    def write(self, chunk: Chunk[int]) -> None:
        batch = PromotionBatch(
            self.org_id, self.partitions, self.catalogue, self.written, chunk.served
        )
        for customer_id, answer in chunk.answered:
            batch.add(customer_id, answer)
        emptied = self._emptied(chunk, batch)
        run_id = self.run.scope.run_id
        merged = StagedMerge(chunk.conn, tables.promotions, run_id=run_id)
        merged.add(batch.promotions)
        chunk.merges.append(merged.finish())
        answered = [(c,) for c, _ in chunk.answered if c not in emptied]
        staged = StagedMerge(chunk.conn, _HELD, run_id=run_id, scope=self.partitions)
        staged.add(batch.held)
        chunk.merges.append(staged.finish(chunk.held(("customer_id",), answered)))
        fetched = {(c, 0, 0): rows for c, rows in batch.by_customer.items() if c not in emptied}
        self.planned.note(
            chunk.conn,
            self.org_id,
            "promotions",
            self.plan,
            fetched,
            self.org.outcome,
            key=lambda i: i[:1],
        )
        self.written.update(batch.mine)

    def _emptied(self, chunk: Chunk[int], batch: PromotionBatch) -> set[int]:
        """Customers whose answer listed nothing although they hold promotions: kept."""
        if self.run.options.accept_drops:
            return set()
        holding = batch.holding
        listed_none = [c for c, _ in chunk.answered if c not in holding]
        emptied = suspiciously_emptied(chunk.conn, self.partitions, listed_none)
        for customer_id in emptied:
            chunk.events.add(
                endpoint="promotion_data",
                code=None,
                kind="warning",
                message="promotionData lists no promotion although the customer held "
                "some; the stored promotions are kept (accept_drops to apply)",
                org_id=self.org_id,
                customer_id=customer_id,
            )
        return emptied

    def quarantine(self, conn: sa.Connection, items: list[int]) -> None:
        change_signals.quarantine(conn, self.org_id, "promotions", [(c, 0, 0) for c in items])

    def contradicts(self, conn: sa.Connection, answered: list[tuple[int, Any]]) -> set[int]:
        """Customers answered "not found" by promotionData that hold stored promotions."""
        negative = [c for c, answer in answered if isinstance(answer, NotFound)]
        return suspiciously_emptied(conn, self.partitions, negative)

    def deletes(self) -> list[Deletes]:
        return [Deletes(_HELD, ("customer_id",), found_customers(self.org_id))]

    def after_deletes(self, conn: sa.Connection, held_back: bool) -> None:
        """Catalogue promotions nobody holds yet, and promotions nothing lists any more."""
        p, partitions = tables.promotions, self.partitions
        # Distinct in SQL: the partitions hold a row per customer and promotion, a set of
        # them in memory grew with the warehouse (about 28 MiB at 50,000 customers).
        held = sa.select(_HELD.c.program_id, _HELD.c.promotion_id).where(partitions.where(_HELD))
        held_now = set(conn.execute(held.distinct()).tuples())
        listed = [
            to_rows.catalogue_promotion_row(self.org_id, entry)
            for promotion_id, entry in self.catalogue.items()
            if (entry.program_id, promotion_id) not in held_now | self.written
        ]
        merged = StagedMerge(conn, p, run_id=self.run.scope.run_id)
        merged.add(listed)
        self.org.outcome.add_merge(merged.finish())
        keep = held_now | {(e.program_id, i) for i, e in self.catalogue.items()}
        gone = 0 if held_back else self._delete_unlisted(conn, keep)
        self.org.outcome.add_merge(MergeResult(p.name, 0, 0, 0, gone))
        for program_id, _ in sorted(keep):
            part = partition_key(self.org_id, program_id)
            self.org.checkpoint.served[("promotions", part)] += 1

    def _delete_unlisted(self, conn: sa.Connection, keep: set[PromotionKey]) -> int:
        p = tables.promotions
        unlisted = sa.tuple_(p.c.program_id, p.c.promotion_id).in_(sorted(keep))
        condition = sa.not_(unlisted) if keep else sa.true()
        gone = conn.execute(sa.delete(p).where(self.partitions.where(p), condition)).rowcount
        return int(gone or 0)
