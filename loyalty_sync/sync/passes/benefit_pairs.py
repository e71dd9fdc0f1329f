"""The (customer, program, promotion) pairs of the benefits pass, and queries over them.

actionSummary is asked only for pairs it can answer: the customer is enrolled in the
program (`loyaltyId` not -1) and the promotion did not end before `BENEFITS_CUTOFF`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from loyalty_sync.sync import change_signals
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope

# actionSummary reports benefits earned on or after this date only.
BENEFITS_CUTOFF = datetime(2025, 6, 12, tzinfo=UTC)
BENEFIT_TABLES = (
    tables.benefit_summaries,
    tables.benefit_points,
    tables.benefit_alternate_currencies,
    tables.benefit_incentives,
)


class Pair(NamedTuple):
    """A customer and a promotion of a program: what one actionSummary call answers."""

    customer_id: int
    program_id: int
    promotion_id: int


PAIR = Pair._fields
# The pass's order (and its checkpoint's cursor): promotion by promotion.
BENEFIT_ORDER = ["program_id", "promotion_id", "customer_id"]


def with_benefits(conn: sa.Connection, partitions: PartitionScope, pairs: list[Pair]) -> set[Pair]:
    """The `pairs` whose stored rows show benefits."""
    found: set[Pair] = set()
    for table in BENEFIT_TABLES:
        columns = [table.c[c] for c in PAIR]
        query = sa.select(*columns).where(
            partitions.where(table), sa.tuple_(*columns).in_(sorted(pairs))
        )
        if table is tables.benefit_summaries:
            query = query.where(table.c.no_benefits.is_(False))
        found.update(Pair(*(int(v) for v in row)) for row in conn.execute(query))
    return found


def benefit_pairs_query(partitions: PartitionScope) -> sa.Select[Any]:
    """(customer, program, promotion) pairs actionSummary can answer."""
    cp = tables.customer_promotions
    lpd = tables.loyalty_program_details
    p = tables.promotions
    return (
        sa.select(cp.c.customer_id, cp.c.program_id, cp.c.promotion_id)
        .join(
            lpd,
            sa.and_(
                lpd.c.org_id == cp.c.org_id,
                lpd.c.program_id == cp.c.program_id,
                lpd.c.customer_id == cp.c.customer_id,
            ),
        )
        .join(
            p,
            sa.and_(
                p.c.org_id == cp.c.org_id,
                p.c.program_id == cp.c.program_id,
                p.c.promotion_id == cp.c.promotion_id,
            ),
        )
        .where(
            partitions.where(cp),
            lpd.c.loyalty_id.is_not(None),
            lpd.c.loyalty_id != -1,
            sa.or_(p.c.end_date.is_(None), p.c.end_date >= BENEFITS_CUTOFF),
        )
    )


def pairs_to_fetch(
    org_id: int, partitions: PartitionScope, plan: change_signals.Plan
) -> sa.Select[Any]:
    """Pairs actionSummary can answer, with their stored signature and fetch reason."""
    cp = tables.customer_promotions
    state, on = change_signals.state_of(
        org_id, "benefits", cp.c.customer_id, cp.c.program_id, cp.c.promotion_id
    )
    reason = change_signals.pair_reason(plan, org_id, state)
    return (
        benefit_pairs_query(partitions)
        .outerjoin(state, on)
        .add_columns(state.c.signature, reason.label("reason"))
    )
