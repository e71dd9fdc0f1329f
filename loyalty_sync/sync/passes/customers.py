"""The customers pass: customerDetails (embed=mlp) per roster entry -> customers, program
details, tier history, and each roster entry's lookup status.

One lookup serves every program of the org, so a run over several programs of an org
looks each customer up once. An `id` entry names the customer already: loyaltyDetails
answers it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from loyalty_sync.capillary.errors import NotFound
from loyalty_sync.capillary.models import Customer, LoyaltyDetails
from loyalty_sync.sync import rows as to_rows
from loyalty_sync.sync.passes.base import OrgPass
from loyalty_sync.sync.passes.customer_rows import CustomerBatch, RosterEntry, Row
from loyalty_sync.sync.passes.finish import Deletes
from loyalty_sync.sync.passes.plans import count, found_customers
from loyalty_sync.sync.passes.spec import Chunk
from loyalty_sync.sync.planned import after, streamed
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import partition_key
from loyalty_sync.warehouse.tier_log import TierHistoryMerge
from loyalty_sync.warehouse.writer import StagedMerge

ROSTER_KEY = ("source", "identifier_name", "identifier_value")
_ROSTER = tables.customer_roster
_ORDER = [_ROSTER.c[name] for name in ROSTER_KEY]


class CustomersPass(OrgPass[RosterEntry]):
    """customerDetails (embed=mlp) per roster entry -> customers, program details, tiers."""

    name = "customers"
    tables = (tables.customers, tables.loyalty_program_details, tables.tier_history)

    def prepare(self) -> None:
        self.entries = sa.select(*_ORDER, _ROSTER.c.account_id).where(
            _ROSTER.c.org_id == self.org_id
        )
        self.seen: set[int] = set()  # customers mapped so far, across chunks
        self.total = count(self.run.engine, self.entries)

    def items_after(self, reader: sa.Connection, cursor: list[Any] | None) -> Iterator[RosterEntry]:
        for row in streamed(reader, after(self.entries, _ORDER, cursor)):
            yield RosterEntry(*row)

    def cursor_of(self, item: RosterEntry) -> list[Any]:
        return list(item.key)

    def item_from_key(self, key: list[Any]) -> RosterEntry:
        return RosterEntry(*key)

    def fetch(self, item: RosterEntry) -> Customer | LoyaltyDetails:
        client = self.run.client
        if item.by_id:
            return client.loyalty_details(self.org_id, int(item.identifier_value))
        return client.lookup_customer(
            self.org_id,
            item.identifier_name,
            item.identifier_value,
            source=item.source,
            account_id=item.account_id,
        )

    def label(self, item: RosterEntry) -> str:
        return f"roster entry {item.identifier_name} {item.identifier_value}"

    def write(self, chunk: Chunk[RosterEntry]) -> None:
        batch = CustomerBatch(self.org_id, self.partitions, chunk.events, self.seen)
        for entry, answer in chunk.answered:
            batch.add(entry, answer)
        conn, run_id = chunk.conn, self.run.scope.run_id
        held = chunk.held(("customer_id",), [(c,) for c in batch.answered])
        for table, rows, scope, deletes in (
            (tables.customers, batch.customers, None, None),
            (tables.loyalty_program_details, batch.details, self.partitions, held),
            (tables.tier_history, self._tier_history(conn, batch), None, None),
        ):
            # tier_history never repeats a customer's latest stored tier.
            merge = TierHistoryMerge if table is tables.tier_history else StagedMerge
            staged = merge(conn, table, run_id=run_id, scope=scope)
            staged.add(rows)
            chunk.merges.append(staged.finish(deletes))
        ids = StagedMerge(conn, _ROSTER, run_id=run_id, columns=["customer_id", "lookup_status"])
        ids.add(batch.roster)
        chunk.merges.append(ids.finish())
        self._count_served(chunk, batch)

    def _tier_history(self, conn: sa.Connection, batch: CustomerBatch) -> list[Row]:
        """A row for each program detail whose tier differs from the stored one."""
        looked_up = sorted({row["customer_id"] for row in batch.customers})
        stored = _stored_tiers(conn, self, looked_up)
        started = self.run.scope.started_at
        return [
            row
            for detail in batch.details
            if (
                row := to_rows.tier_history_row(
                    detail, stored.get((detail["program_id"], detail["customer_id"])), started
                )
            )
        ]

    def _count_served(self, chunk: Chunk[RosterEntry], batch: CustomerBatch) -> None:
        for detail in batch.details:
            part = partition_key(self.org_id, detail["program_id"])
            chunk.served[("loyalty_program_details", part)] += 1
        for part in self.partitions.keys:
            chunk.served[("customers", part)] += len(batch.customers)

    def contradicts(
        self, conn: sa.Connection, answered: list[tuple[RosterEntry, Any]]
    ) -> set[RosterEntry]:
        """Roster entries answered "not found" that were found before."""
        negative = {e.key: e for e, answer in answered if isinstance(answer, NotFound)}
        if not negative:
            return set()
        key = sa.tuple_(*_ORDER)
        found = conn.execute(
            sa.select(*_ORDER).where(
                _ROSTER.c.org_id == self.org_id,
                _ROSTER.c.customer_id.is_not(None),
                key.in_(sorted(negative)),
            )
        ).tuples()
        return {negative[tuple(row)] for row in found}

    def deletes(self) -> list[Deletes]:
        return [
            Deletes(tables.loyalty_program_details, ("customer_id",), found_customers(self.org_id))
        ]


def _stored_tiers(
    conn: sa.Connection, org_pass: CustomersPass, customers: list[int]
) -> dict[tuple[int, int], to_rows.Tier]:
    t = tables.loyalty_program_details
    query = sa.select(
        t.c.program_id, t.c.customer_id, t.c.slab_sno, t.c.current_slab, t.c.slab_expiry_date
    ).where(org_pass.partitions.where(t), t.c.customer_id.in_(customers))
    return {
        (row.program_id, row.customer_id): (row.slab_sno, row.current_slab, row.slab_expiry_date)
        for row in conn.execute(query)
    }
