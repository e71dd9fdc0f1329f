"""A capacity plan: calls and hours a day a roster costs, and what to change when it does
not fit in a day.

A daily sync makes one lookup per roster entry, then promotionData for the customers and
actionSummary for the pairs a signal names, a `1 / max age` share of each for the max-age
bucket, and the drift sample. The change rates come from the signals recent syncs stored
(`sync_runs.signals`): the share of items fetched for a reason other than the max age, and
the calls a fetched item cost (promotionData has pages). The calls fit in a day when they
take less than 24 hours at the rate limit (paced at 98 % of it, as the client does).

Nothing here calls the API: the roster and the signals are in the warehouse.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from loyalty_sync.capillary.ratelimit import SAFETY_FACTOR
from loyalty_sync.sync.change_signals import Reason
from loyalty_sync.warehouse import tables

DAY_MINUTES = 24 * 60
RECENT_SYNCS = 7
# Reasons a daily sync fetches an item for that the max age and the sample do not explain.
SIGNALLED = {
    Reason.NEW,
    Reason.LOOKUP_CHANGED,
    Reason.NEW_PROMOTION,
    Reason.PROMOTION_CHANGED,
    Reason.USAGE_CHANGED,
    Reason.RETRY,
}
PASSES = ("promotions", "benefits")


@dataclass(frozen=True)
class PassRates:
    """What recent syncs measured of one pass."""

    items_per_customer: float  # customers (1.0) or pairs per customer
    changed_share: float  # items a day fetched on a signal, as a share of the items
    calls_per_item: float  # calls a fetched item cost
    syncs: int  # daily syncs the changed share is measured on
    shape_syncs: int = 0  # syncs of any kind the items and calls are measured on


@dataclass(frozen=True)
class Plan:
    members: int
    rate_limit_per_minute: int
    max_age_days: int
    sample_share: float
    rates: dict[str, PassRates]
    # Roster entries per member found: every entry is looked up each day, found or not.
    lookups_per_member: float = 1.0

    def _pass_calls(self, name: str, share: float) -> float:
        r = self.rates[name]
        return self.members * r.items_per_customer * share * r.calls_per_item

    @property
    def lookups(self) -> float:
        return self.members * self.lookups_per_member

    @property
    def daily_calls(self) -> float:
        """Lookups, then each pass's signalled changes, max-age bucket and sample."""
        due = 1 / self.max_age_days + self.sample_share
        return self.lookups + sum(
            self._pass_calls(name, min(1.0, self.rates[name].changed_share + due))
            for name in PASSES
        )

    @property
    def first_sync_calls(self) -> float:
        return self.lookups + sum(self._pass_calls(name, 1.0) for name in PASSES)

    @property
    def calls_a_day(self) -> float:
        return self.rate_limit_per_minute * SAFETY_FACTOR * DAY_MINUTES

    def hours(self, calls: float) -> float:
        return calls / (self.rate_limit_per_minute * SAFETY_FACTOR) / 60

    @property
    def fits(self) -> bool:
        return self.daily_calls <= self.calls_a_day

    def advice(self) -> list[str]:
        """What to change so the daily sync fits in a day, and how the first sync goes."""
        lines = []
        days = self.hours(self.first_sync_calls) / 24
        if days > 1:
            lines.append(
                f"the first sync takes {days:.1f} days: it carries on across days from its "
                "checkpoints, and the daily schedule leaves its partitions alone until it ends"
            )
        if self.fits:
            return lines
        needed = math.ceil(self.daily_calls / (SAFETY_FACTOR * DAY_MINUTES))
        lines.append(f"raise the rate limit to at least {needed:,}/min (ask Capillary)")
        if self.lookups > self.calls_a_day:
            lines.append(
                f"the lookups alone ({self.lookups:,.0f} a day) exceed the day's "
                f"{self.calls_a_day:,.0f} calls: split the roster across API keys or sync "
                "part of it each day (partitions on a schedule of their own)"
            )
            return lines
        age = self._max_age_that_fits()
        if age is not None:
            lines.append(
                f"or raise LOYALTY_SYNC_MAX_AGE_DAYS to {age} (items refetched less often)"
            )
        else:
            lines.append("no max age fits: the signalled changes alone exceed the day")
        return lines

    def _max_age_that_fits(self) -> int | None:
        for age in range(self.max_age_days + 1, 366):
            trial = dataclasses.replace(self, max_age_days=age)
            if trial.fits:
                return age
        return None


# When no daily sync has been measured yet: the simulator's figures at 5 % churn
# (benchmarks/RESULTS.md, item 9), 20 promotions held by half the customers.
DEFAULT_RATES = {
    "promotions": PassRates(1.0, 0.02, 1.0, 0, 0),
    "benefits": PassRates(7.3, 0.01, 1.0, 0, 0),
}


def _is_daily(figures: dict[str, Any]) -> bool:
    """A change-driven sync of a warehouse already synced: not --full, not mostly new."""
    fetched = figures.get("fetched", {})
    items = figures.get("items", 0)
    return bool(items) and not fetched.get(Reason.FULL.value) and fetched.get("new", 0) < items / 2


def _rates(runs: list[dict[str, Any]], name: str, members: int) -> PassRates:
    """Means over the runs (each the sum of its orgs' figures) of one pass's rates.

    The items a member and the calls an item are the warehouse's shape, which any sync
    measures, the first one included: a team planning right after its first sync gets its
    own shape, not the simulator's. Only the changed share needs daily syncs.
    """
    seen = [run[name] for run in runs if name in run and run[name].get("items")]
    if not seen or not members:
        return DEFAULT_RATES[name]
    daily = [figures for figures in seen if _is_daily(figures)]
    signalled = [
        sum(n for r, n in d.get("fetched", {}).items() if r in SIGNALLED) / d["items"]
        for d in daily
    ]
    calls = sum(d.get("full_calls", 0) for d in seen)
    items = sum(d["items"] for d in seen)
    return PassRates(
        items_per_customer=items / len(seen) / members,
        changed_share=(sum(signalled) / len(daily) if daily else DEFAULT_RATES[name].changed_share),
        calls_per_item=max(calls / items, 1.0),
        syncs=len(daily),
        shape_syncs=len(seen),
    )


def _summed(per_org: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's signals: its orgs' figures added up, pass by pass."""
    total: dict[str, Any] = {}
    for signals in per_org:
        for name, figures in signals.items():
            into = total.setdefault(name, {"items": 0, "fetched": {}, "full_calls": 0})
            into["items"] += figures.get("items", 0)
            into["full_calls"] += figures.get("full_calls", 0)
            for reason, n in figures.get("fetched", {}).items():
                into["fetched"][reason] = into["fetched"].get(reason, 0) + n
    return total


@dataclass(frozen=True)
class Measured:
    """What the warehouse says of its roster and of its recent syncs."""

    members: int  # customers the roster found
    roster_entries: int  # identifiers looked up each day, found or not
    rates: dict[str, PassRates]

    def plan(self, members: int | None, limit: int, max_age: int, sample_share: float) -> Plan:
        """A plan for these figures, or for `members` with the same roster shape."""
        per_member = self.roster_entries / self.members if self.members else 1.0
        return Plan(members or self.members, limit, max_age, sample_share, self.rates, per_member)


def measured_rates(conn: sa.Connection) -> Measured:
    """The roster's size, and the rates of the last syncs.

    An org's signals are stored on each of its partitions' rows (its customers are fetched
    once for all its programs): one row per run and org is read.
    """
    roster = tables.customer_roster
    found = conn.scalar(
        sa.select(sa.func.count()).select_from(
            sa.select(roster.c.org_id, roster.c.customer_id)
            .where(roster.c.customer_id.is_not(None))
            .distinct()
            .subquery()
        )
    )
    entries = conn.scalar(sa.select(sa.func.count()).select_from(roster))
    runs = tables.sync_runs
    latest = (
        sa.select(runs.c.run_id, sa.func.max(runs.c.started_at).label("started"))
        .where(runs.c.status == "success", runs.c.signals.is_not(None))
        .group_by(runs.c.run_id)
        .order_by(sa.desc("started"))
        .limit(RECENT_SYNCS)
        .subquery()
    )
    rows = conn.execute(
        sa.select(runs.c.run_id, runs.c.org_id, runs.c.signals)
        .join(latest, latest.c.run_id == runs.c.run_id)
        .distinct(runs.c.run_id, runs.c.org_id)
        .order_by(runs.c.run_id, runs.c.org_id)
    ).all()
    by_run: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_run.setdefault(row.run_id, []).append(dict(row.signals))
    summed = [_summed(per_org) for per_org in by_run.values()]
    members = int(found or 0)
    rates = {name: _rates(summed, name, members) for name in PASSES}
    return Measured(members, int(entries or 0), rates)
