"""The queries of the promotions pass: whom to fetch, and who would lose every promotion."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from loyalty_sync.sync import change_signals
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope

_HELD = tables.customer_promotions


def customers_to_fetch(
    org_id: int, partitions: PartitionScope, plan: change_signals.Plan
) -> sa.Select[Any]:
    """Found customers of the org, with their promotionData signature and fetch reason."""
    roster, lpd = tables.customer_roster, tables.loyalty_program_details
    state, on = change_signals.state_of(org_id, "promotions", roster.c.customer_id)
    reason = change_signals.customer_reason(
        plan, org_id, roster.c.customer_id, partitions.where(lpd), state
    )
    return (
        sa.select(roster.c.customer_id, state.c.signature, reason.label("reason"))
        .select_from(roster.outerjoin(state, on))
        .where(roster.c.org_id == org_id, roster.c.customer_id.is_not(None))
        .distinct()
    )


def suspiciously_emptied(
    conn: sa.Connection, partitions: PartitionScope, customers: list[int]
) -> set[int]:
    """Customers among `customers` (whose answer listed no promotion) that hold some.

    Losing every promotion at once is rare for a real customer and exactly what a broken
    answer looks like, so the stored rows are kept and the answer reported; a sync with
    accept_drops applies it when it is known to be genuine. Losing some promotions is
    applied as usual.
    """
    if not customers:
        return set()
    query = (
        sa.select(_HELD.c.customer_id)
        .where(partitions.where(_HELD), _HELD.c.customer_id.in_(customers))
        .distinct()
    )
    return set(conn.scalars(query))
