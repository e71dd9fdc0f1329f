"""How many benefit summaries came back 8116 ("no benefits earned"), overall and per promotion.

8116 is data, not a failure: a customer who held a promotion and earned nothing. A high
share overall, or for one well-held promotion, is still worth a look, and an active
promotion where every enrolled holder got 8116 is most likely misconfigured (its rules
cannot be met, or it issues nothing). Summaries exist only for enrolled customers (the
benefits pass asks for no others), so "every summary of the promotion" is "every enrolled
holder".

A promotion that has not started yet gives 8116 to everyone by nature: it counts in the
overall share but is never judged on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from loyalty_sync.checks.findings import LIST_LIMIT, Offender
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope, partition_key


@dataclass(frozen=True)
class PromotionShare:
    """Summaries of one promotion and how many of them were 8116."""

    org_id: int
    program_id: int
    promotion_id: int
    name: str | None
    active: bool
    started: bool
    summaries: int
    no_benefits: int

    @property
    def share(self) -> float:
        return self.no_benefits / self.summaries if self.summaries else 0.0

    @property
    def partition_key(self) -> str:
        return partition_key(self.org_id, self.program_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "org": self.org_id,
            "program": self.program_id,
            "promotion": self.promotion_id,
            "name": self.name,
            "active": self.active,
            "summaries": self.summaries,
            "no_benefits": self.no_benefits,
            "share": round(self.share, 4),
        }


@dataclass
class NoBenefitsReport:
    """The 8116 picture of a scope, judged against the given thresholds."""

    max_share: float
    promotions: list[PromotionShare]
    misconfigured: list[PromotionShare]
    over_threshold: list[PromotionShare]
    offenders: list[Offender] = field(default_factory=list)

    @property
    def summaries(self) -> int:
        return sum(p.summaries for p in self.promotions)

    @property
    def no_benefits(self) -> int:
        return sum(p.no_benefits for p in self.promotions)

    @property
    def share(self) -> float:
        return self.no_benefits / self.summaries if self.summaries else 0.0

    @property
    def overall_over_threshold(self) -> bool:
        return self.share > self.max_share

    @property
    def passed(self) -> bool:
        return not (self.overall_over_threshold or self.misconfigured or self.over_threshold)


def _promotion_shares(
    conn: sa.Connection, scope: PartitionScope, as_of: datetime
) -> list[PromotionShare]:
    s, p = tables.benefit_summaries, tables.promotions
    started, running = _schedule(as_of)
    columns = (s.c.org_id, s.c.program_id, s.c.promotion_id)
    rows = conn.execute(
        sa.select(
            *columns,
            p.c.promotion_name,
            sa.func.coalesce(running, False),
            sa.func.coalesce(started, True),
            sa.func.count(),
            sa.func.count().filter(s.c.no_benefits),
        )
        .select_from(s.outerjoin(p, sa.and_(*(p.c[c.name] == c for c in columns))))
        .where(scope.where(s))
        .group_by(*columns, p.c.promotion_name, p.c.active, p.c.start_date, p.c.end_date)
        .order_by(*columns)
    ).all()
    return [PromotionShare(*row) for row in rows]


def _schedule(as_of: datetime) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    """Whether a promotion had started by `as_of`, and whether it was running then."""
    p = tables.promotions
    started = sa.or_(p.c.start_date.is_(None), p.c.start_date <= as_of)
    running = sa.and_(
        p.c.active.is_(True), started, sa.or_(p.c.end_date.is_(None), p.c.end_date >= as_of)
    )
    return started, running


def _offenders(
    conn: sa.Connection, promotions: list[PromotionShare], scope: PartitionScope, limit: int
) -> list[Offender]:
    """8116 summaries of the flagged promotions, or of the whole scope when none is flagged."""
    s = tables.benefit_summaries
    names = {(p.program_id, p.promotion_id): p.name for p in promotions}
    query = sa.select(
        s.c.org_id,
        s.c.program_id,
        s.c.customer_id,
        s.c.promotion_id,
        s.c.warning_code,
        s.c.warning_message,
    ).where(s.c.no_benefits, scope.where(s))
    if promotions:
        wanted = sorted({(p.program_id, p.promotion_id) for p in promotions})
        query = query.where(sa.tuple_(s.c.program_id, s.c.promotion_id).in_(wanted))
    rows = conn.execute(
        query.order_by(s.c.org_id, s.c.program_id, s.c.promotion_id, s.c.customer_id).limit(limit)
    ).all()
    return [
        Offender(
            org_id=row.org_id,
            program_id=row.program_id,
            customer_id=row.customer_id,
            promotion_id=row.promotion_id,
            values={
                "promotion_name": names.get((row.program_id, row.promotion_id)),
                "warning_code": row.warning_code,
                "warning_message": row.warning_message,
            },
        )
        for row in rows
    ]


def no_benefits_report(
    conn: sa.Connection,
    scope: PartitionScope,
    *,
    max_share: float = 0.5,
    min_summaries_per_promotion: int = 20,
    min_customers_misconfigured: int = 3,
    as_of: datetime | None = None,
    limit: int = LIST_LIMIT,
) -> NoBenefitsReport:
    """Shares of 8116 summaries in the partitions of `scope`.

    - overall: every summary in scope, against `max_share`;
    - per promotion: promotions that have started and have at least
      `min_summaries_per_promotion` summaries, against `max_share` (fewer summaries make
      a share too noisy to judge; they are still reported);
    - misconfigured: active promotions (flag set, started, not ended at `as_of`) with at
      least `min_customers_misconfigured` summaries, every one of them 8116.
    """
    moment = as_of or conn.scalar(sa.select(sa.func.now()))
    promotions = _promotion_shares(conn, scope, moment)
    misconfigured = [
        p
        for p in promotions
        if p.active and p.summaries >= min_customers_misconfigured and p.no_benefits == p.summaries
    ]
    over = [
        p
        for p in promotions
        if p.started and p.summaries >= min_summaries_per_promotion and p.share > max_share
    ]
    report = NoBenefitsReport(max_share, promotions, misconfigured, over)
    flagged = misconfigured + [p for p in over if p not in misconfigured]
    if not report.passed:
        report.offenders = _offenders(conn, flagged, scope, limit)
    return report
