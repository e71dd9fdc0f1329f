"""Tier anomalies in `loyalty_program_details` and `tier_history`, as SQL rules.

The rules and their severities are listed once, in `TIER_RULES`; why each is what it is:

Impossible states (ERROR) cannot come out of a healthy loyalty engine, whatever the
customer did:
- `negative_balances`: loyalty, delayed, available or lifetime points below zero;
- `available_points_sum`: `totalAvailablePoints` is not `loyaltyPoints + delayedPoints`;
- `next_slab_serial`: `nextSlabSerialNumber` is not `slabSNo + 1`. `-1` is the top tier's
  answer (the reference page's Diamond example), so it is accepted unless another customer
  of the program holds a higher tier, which proves this one is not the top;
- `points_while_not_enrolled`: `loyaltyId -1` with points held. A not-enrolled row keeps a
  tier (the reference pages show one), so a tier alone is not an anomaly; zero points are
  what such a row should carry.

Suspicious states (WARN) can happen but usually mean a tier job or a manual change went wrong:
- `downgrade_before_expiry`: a tier change seen by the judged sync moved the customer to a
  lower tier while the previous tier's `slabExpiryDate` had not passed yet;
- `tier_kept_past_expiry`: an enrolled customer above the base tier (serial 1, which has
  no lower tier to fall to) still held a tier whose expiry date had passed, by more than a
  grace period, when the judged sync looked;
- `lifetime_below_current`: lifetime points lower than the current loyalty points.

"The judged sync" of a partition is the latest one that wrote its program details: in a
run that materialised them, that run. Time-dependent rules compare against when that sync
started, not against the wall clock, so stale data is not mistaken for a kept tier (the
partitions_fresh check covers staleness).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from loyalty_sync.checks.findings import LIST_LIMIT, Finding, Offender, Severity
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope, partition_key


@dataclass(frozen=True)
class TierRule:
    """How bad a rule's finding is (impossible: ERROR, suspicious: WARN) and what it finds."""

    severity: Severity
    what: str


# The one list of tier rules: the asset checks, their severities and the tests read it.
TIER_RULES: dict[str, TierRule] = {
    "negative_balances": TierRule(
        Severity.ERROR, "loyalty, delayed, available or lifetime points below zero"
    ),
    "available_points_sum": TierRule(
        Severity.ERROR, "totalAvailablePoints is not loyaltyPoints + delayedPoints"
    ),
    "next_slab_serial": TierRule(
        Severity.ERROR, "nextSlabSerialNumber is not slabSNo + 1 (-1 only at the top tier)"
    ),
    "points_while_not_enrolled": TierRule(
        Severity.ERROR, "points held with loyaltyId -1 (not enrolled)"
    ),
    "downgrade_before_expiry": TierRule(
        Severity.WARN, "tier lowered since the previous sync before the old tier's slabExpiryDate"
    ),
    "tier_kept_past_expiry": TierRule(
        Severity.WARN, "tier above the base still held after its slabExpiryDate"
    ),
    "lifetime_below_current": TierRule(
        Severity.WARN, "lifetime points lower than current loyalty points"
    ),
}

_DETAILS = tables.loyalty_program_details
_HISTORY = tables.tier_history


@dataclass(frozen=True)
class _Rule:
    source: sa.FromClause
    org: sa.ColumnElement[Any]
    program: sa.ColumnElement[Any]
    customer: sa.ColumnElement[Any]
    condition: sa.ColumnElement[bool]
    values: Mapping[str, sa.ColumnElement[Any]]


def judged_syncs(scope: PartitionScope) -> sa.Subquery:
    """Per partition, the latest sync that wrote its program details: run id and start."""
    s = tables.sync_runs
    return (
        sa.select(s.c.org_id, s.c.program_id, s.c.run_id, s.c.started_at)
        .where(scope.where(s), s.c.rows[_DETAILS.name].is_not(None))
        .order_by(s.c.org_id, s.c.program_id, s.c.started_at.desc(), s.c.run_id)
        .distinct(s.c.org_id, s.c.program_id)
        .subquery("judged")
    )


@dataclass(frozen=True)
class _Details:
    """The program details of a scope, aliased once, that every detail rule reads."""

    d: sa.FromClause
    scope: PartitionScope

    def rule(
        self,
        condition: sa.ColumnElement[bool],
        values: Mapping[str, sa.ColumnElement[Any]],
        source: sa.FromClause | None = None,
    ) -> _Rule:
        d = self.d
        return _Rule(
            d if source is None else source,
            d.c.org_id,
            d.c.program_id,
            d.c.customer_id,
            sa.and_(self.scope.where(d), condition),
            values,
        )


def _detail_rules(
    scope: PartitionScope, tolerance: Decimal, expiry_grace: timedelta
) -> dict[str, _Rule]:
    details = _Details(_DETAILS.alias("d"), scope)
    return {
        "negative_balances": _negative_balances(details),
        "available_points_sum": _available_points_sum(details, tolerance),
        "next_slab_serial": _next_slab_serial(details),
        "points_while_not_enrolled": _points_while_not_enrolled(details),
        "tier_kept_past_expiry": _tier_kept_past_expiry(details, expiry_grace),
        "lifetime_below_current": _lifetime_below_current(details),
    }


def _negative_balances(details: _Details) -> _Rule:
    d = details.d
    balances = {
        "loyalty_points": d.c.loyalty_points,
        "delayed_points": d.c.delayed_points,
        "total_available_points": d.c.total_available_points,
        "lifetime_points": d.c.lifetime_points,
    }
    return details.rule(sa.or_(*(c < 0 for c in balances.values())), balances)


def _available_points_sum(details: _Details, tolerance: Decimal) -> _Rule:
    d = details.d
    gap = d.c.total_available_points - d.c.loyalty_points - sa.func.coalesce(d.c.delayed_points, 0)
    return details.rule(
        sa.and_(
            d.c.total_available_points.is_not(None),
            d.c.loyalty_points.is_not(None),
            sa.func.abs(gap) > tolerance,
        ),
        {
            "total_available_points": d.c.total_available_points,
            "loyalty_points": d.c.loyalty_points,
            "delayed_points": d.c.delayed_points,
        },
    )


def _next_slab_serial(details: _Details) -> _Rule:
    d, other = details.d, _DETAILS.alias("other")
    # The highest tier anyone holds in each program, computed once: a -1 below it is wrong.
    ladders = (
        sa.select(other.c.org_id, other.c.program_id, sa.func.max(other.c.slab_sno).label("top"))
        .where(details.scope.where(other))
        .group_by(other.c.org_id, other.c.program_id)
        .subquery("ladders")
    )
    with_ladder = d.join(
        ladders, sa.and_(ladders.c.org_id == d.c.org_id, ladders.c.program_id == d.c.program_id)
    )
    return details.rule(
        sa.and_(
            d.c.slab_sno.is_not(None),
            d.c.next_slab_serial_number.is_not(None),
            d.c.next_slab_serial_number != d.c.slab_sno + 1,
            sa.not_(sa.and_(d.c.next_slab_serial_number == -1, d.c.slab_sno >= ladders.c.top)),
        ),
        {
            "slab_sno": d.c.slab_sno,
            "current_slab": d.c.current_slab,
            "next_slab_serial_number": d.c.next_slab_serial_number,
            "next_slab": d.c.next_slab,
            "highest_tier_held_in_program": ladders.c.top,
        },
        source=with_ladder,
    )


def _points_while_not_enrolled(details: _Details) -> _Rule:
    d = details.d
    held = sa.or_(d.c.loyalty_points != 0, d.c.delayed_points != 0, d.c.total_available_points != 0)
    return details.rule(
        sa.and_(d.c.loyalty_id == -1, held),
        {
            "loyalty_id": d.c.loyalty_id,
            "loyalty_points": d.c.loyalty_points,
            "delayed_points": d.c.delayed_points,
            "total_available_points": d.c.total_available_points,
        },
    )


def _tier_kept_past_expiry(details: _Details, expiry_grace: timedelta) -> _Rule:
    d, judged = details.d, judged_syncs(details.scope)
    with_judged = d.outerjoin(
        judged, sa.and_(judged.c.org_id == d.c.org_id, judged.c.program_id == d.c.program_id)
    )
    return details.rule(
        sa.and_(
            d.c.loyalty_id.is_not(None),
            ~(d.c.loyalty_id == -1),
            d.c.slab_sno > 1,
            d.c.slab_expiry_date.is_not(None),
            judged.c.started_at.is_not(None),
            d.c.slab_expiry_date + expiry_grace < judged.c.started_at,
        ),
        {
            "current_slab": d.c.current_slab,
            "slab_sno": d.c.slab_sno,
            "slab_expiry_date": d.c.slab_expiry_date,
            "seen_at": judged.c.started_at,
        },
        source=with_judged,
    )


def _lifetime_below_current(details: _Details) -> _Rule:
    d = details.d
    return details.rule(
        d.c.lifetime_points < d.c.loyalty_points,
        {"lifetime_points": d.c.lifetime_points, "loyalty_points": d.c.loyalty_points},
    )


def _downgrade_rule(scope: PartitionScope) -> _Rule:
    h = _HISTORY.alias("h")
    judged = judged_syncs(scope)
    source = h.join(
        judged,
        sa.and_(
            judged.c.org_id == h.c.org_id,
            judged.c.program_id == h.c.program_id,
            judged.c.run_id == h.c.run_id,
        ),
    )
    condition = sa.and_(
        scope.where(h),
        h.c.previous_slab_sno.is_not(None),
        h.c.slab_sno < h.c.previous_slab_sno,
        h.c.previous_slab_expiry_date.is_not(None),
        h.c.valid_from < h.c.previous_slab_expiry_date,
    )
    values = {
        "previous_slab": h.c.previous_slab,
        "previous_slab_sno": h.c.previous_slab_sno,
        "previous_slab_expiry_date": h.c.previous_slab_expiry_date,
        "current_slab": h.c.current_slab,
        "slab_sno": h.c.slab_sno,
        "seen_at": h.c.valid_from,
    }
    return _Rule(source, h.c.org_id, h.c.program_id, h.c.customer_id, condition, values)


def _judge(conn: sa.Connection, name: str, rule: _Rule, judged: int, limit: int) -> Finding:
    counts = conn.execute(
        sa.select(rule.org, rule.program, sa.func.count())
        .select_from(rule.source)
        .where(rule.condition)
        .group_by(rule.org, rule.program)
    ).all()
    labels = list(rule.values)
    rows = conn.execute(
        sa.select(
            rule.org, rule.program, rule.customer, *(c.label(k) for k, c in rule.values.items())
        )
        .select_from(rule.source)
        .where(rule.condition)
        .order_by(rule.org, rule.program, rule.customer)
        .limit(limit)
    ).all()
    offenders = [
        Offender(
            org_id=row[0],
            program_id=row[1],
            customer_id=row[2],
            values={k: row[3 + i] for i, k in enumerate(labels)},
        )
        for row in rows
    ]
    by_partition = {partition_key(org, program): int(n) for org, program, n in counts}
    return Finding(name, judged, by_partition, offenders)


def tier_findings(
    conn: sa.Connection,
    scope: PartitionScope,
    *,
    points_tolerance: Decimal = Decimal(0),
    expiry_grace: timedelta = timedelta(hours=24),
    limit: int = LIST_LIMIT,
) -> dict[str, Finding]:
    """Every tier rule over the program details of the partitions of `scope`, by rule name.

    `judged` is the number of program-detail rows in scope for every rule, so shares read
    as "share of the customers of these programs".
    """
    d = _DETAILS
    judged = int(conn.scalar(sa.select(sa.func.count()).select_from(d).where(scope.where(d))) or 0)
    rules = {
        **_detail_rules(scope, points_tolerance, expiry_grace),
        "downgrade_before_expiry": _downgrade_rule(scope),
    }
    return {name: _judge(conn, name, rules[name], judged, limit) for name in TIER_RULES}
