"""Simulated days: deterministic churn applied on top of the derived data.

A change-driven sync fetches only what may have changed, so its tests need data that
changes by known amounts. Each simulated day d picks a share of every org's customers
from (seed, d, customer), whatever the timing of the requests, and gives each one change
of one kind, drawn with `KIND_WEIGHTS`:

- `points_earned`: a points grant in an active held promotion of a program the customer
  is enrolled in: lookup, promotionData usage and both actionSummary versions move.
- `tier_moved`: one tier up (down from the top) in one program: the lookup only.
- `redeemed`: points redeemed in one enrolled program with points: the lookup only.
- `enrolled`: one more enrolment in a held LOYALTY_EARNING promotion: promotionData only
  (the issual restriction's `currentCustomerUsage` and `maxLimit`).
- `summary_only`: a reward or badge in an active held promotion: actionSummary only.
A customer without what its kind needs falls back: points_earned, redeemed and
summary_only to tier_moved, enrolled to summary_only. New promotions of an advance are
reported as `new_promotion` (catalogue, promotionData, actionSummary).

Every change is stamped inside the last hour before day d ends, so before the clock's
reading after the advance. Planted anomalies are never touched.
"""

from __future__ import annotations

from random import Random
from typing import TYPE_CHECKING, Any, NamedTuple

from capillary_simulator import identifiers as ids
from capillary_simulator.hashing import Tag, rng, unit
from capillary_simulator.records import ACTIVE, Customer, Incentive, PointsGrant, Promotion

if TYPE_CHECKING:
    from capillary_simulator.data import SimulatorDataset

KIND_WEIGHTS = (
    ("points_earned", 0.45),
    ("tier_moved", 0.15),
    ("redeemed", 0.15),
    ("enrolled", 0.15),
    ("summary_only", 0.10),
)
CHANGE_KINDS = (*(kind for kind, _ in KIND_WEIGHTS), "new_promotion")
FALLBACK = {
    "points_earned": "tier_moved",
    "redeemed": "tier_moved",
    "enrolled": "summary_only",
    "summary_only": "tier_moved",
}
HOUR_MS = 3_600_000
MAX_ADVANCE_DAYS = 366  # per request: each day's churn is a pass over every customer
MAX_NEW_PROMOTIONS = 50  # per org and request: all of them fit, a second apart, in an hour


def check_advance(days: object, churn: object, new_promotions: object, holders: object) -> None:
    """Raise ValueError naming the first out-of-range argument of an advance."""

    def whole(value: object, low: int, high: int) -> bool:
        return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high

    def share(value: object) -> bool:
        return not isinstance(value, bool) and isinstance(value, int | float) and 0 <= value <= 1

    for label, value, ok, wanted in (
        (
            "days",
            days,
            whole(days, 1, MAX_ADVANCE_DAYS),
            f"an integer from 1 to {MAX_ADVANCE_DAYS}",
        ),
        ("churn", churn, share(churn), "a share from 0 to 1"),
        (
            "new_promotions",
            new_promotions,
            whole(new_promotions, 0, MAX_NEW_PROMOTIONS),
            f"an integer from 0 to {MAX_NEW_PROMOTIONS}",
        ),
        ("new_promotion_holders", holders, share(holders), "a share from 0 to 1"),
    ):
        if not ok:
            raise ValueError(f"{label} must be {wanted}, got {value!r}")


class Change(NamedTuple):
    kind: str
    org_id: int
    customer_id: int
    program_id: int
    promotion_id: int | None

    def item(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id,
            "customer_id": self.customer_id,
            "program_id": self.program_id,
            "promotion_id": self.promotion_id,
        }


def draw_kind(seed: int, day: int, customer_id: int) -> str:
    point = unit(seed, Tag.CHURN_KIND, day, customer_id)
    for kind, weight in KIND_WEIGHTS:
        if point < weight:
            return kind
        point -= weight
    return KIND_WEIGHTS[-1][0]


def summarise(day: int, date_text: str, changes: list[Change]) -> dict[str, Any]:
    """The body of one advance: every kind, with its count and items."""
    by_kind: dict[str, Any] = {kind: {"count": 0, "items": []} for kind in CHANGE_KINDS}
    for change in changes:
        by_kind[change.kind]["count"] += 1
        by_kind[change.kind]["items"].append(change.item())
    return {"day": day, "date": date_text, "changes": by_kind}


class DayChurn:
    """Applies the changes of one simulated day to a data set's overlays."""

    def __init__(self, dataset: SimulatorDataset, day: int, day_end_ms: int) -> None:
        self._ds = dataset
        self._seed = dataset.config.seed
        self._day = day
        self._day_end_ms = day_end_ms

    def churn(self, share: float) -> list[Change]:
        changes: list[Change] = []
        if share <= 0:
            return changes
        for org_id in self._ds.org_ids:
            org = self._ds.org(org_id)
            assert org is not None
            o = org.index
            for i in range(self._ds.config.customers_per_org):
                cid = ids.customer_id(o, i)
                if unit(self._seed, Tag.CHURN, self._day, cid) >= share:
                    continue
                change = self._change(self._ds.customer_by_index(org_id, i))
                if change is not None:
                    changes.append(change)
        return changes

    def _change(self, customer: Customer) -> Change | None:
        r = rng(self._seed, Tag.CHURN_DETAIL, self._day, customer.customer_id)
        stamp = self._day_end_ms - HOUR_MS + r.randrange(HOUR_MS // 1000) * 1000
        kind: str | None = draw_kind(self._seed, self._day, customer.customer_id)
        while kind is not None:
            change = getattr(self, f"_{kind}")(customer, r, stamp)
            if change is not None:
                return change
            kind = FALLBACK.get(kind)
        return None

    def _active_held(self, customer: Customer, stamp: int) -> list[Promotion]:
        """Held promotions active at `stamp` whose pairs actionSummary reports."""
        return [
            p
            for p in self._ds.held_promotions(customer.org_id, customer.customer_id)
            if p.kind == ACTIVE and not p.misconfigured and p.start_ms <= stamp <= p.end_ms
        ]

    def _points_earned(self, customer: Customer, r: Random, stamp: int) -> Change | None:
        enrolled = {
            m.program_id
            for m in customer.memberships
            if m.enrolled and not self._ds.is_planted(customer.customer_id, m.program_id)
        }
        pairs = [p for p in self._active_held(customer, stamp) if p.program_id in enrolled]
        if not pairs:
            return None
        promotion = r.choice(pairs)
        points = float(r.randrange(10, 500, 10))
        grant = PointsGrant(r.choice(promotion.activities), "REGULAR_POINTS", points, 1, stamp)
        self._ds.overlay_grant(customer, promotion, points=(grant,))
        self._ds.overlay_points(customer, promotion.program_id, earned=points)
        return Change(
            "points_earned",
            customer.org_id,
            customer.customer_id,
            promotion.program_id,
            promotion.promotion_id,
        )

    def _tier_moved(self, customer: Customer, r: Random, stamp: int) -> Change | None:
        open_ = [
            m
            for m in customer.memberships
            if not self._ds.is_planted(customer.customer_id, m.program_id)
        ]
        if not open_:
            return None
        enrolled = [m for m in open_ if m.enrolled]
        membership = r.choice(enrolled or open_)
        program = self._ds.program(membership.program_id)
        assert program is not None
        serial = membership.slab_serial + 1
        if membership.slab_serial >= program.top_serial:
            serial = program.top_serial - 1
        if serial < 1:
            return None
        self._ds.move_tier(customer, program, serial, stamp, r)
        return Change("tier_moved", customer.org_id, customer.customer_id, program.program_id, None)

    def _redeemed(self, customer: Customer, r: Random, stamp: int) -> Change | None:
        with_points = [
            m
            for m in customer.memberships
            if m.enrolled
            and m.loyalty_points > 0
            and not self._ds.is_planted(customer.customer_id, m.program_id)
        ]
        if not with_points:
            return None
        membership = r.choice(with_points)
        points = min(membership.loyalty_points, float(r.randrange(50, 2000, 50)))
        self._ds.overlay_points(customer, membership.program_id, redeemed=points)
        return Change(
            "redeemed", customer.org_id, customer.customer_id, membership.program_id, None
        )

    def _enrolled(self, customer: Customer, r: Random, stamp: int) -> Change | None:
        earning = [
            p
            for p in self._ds.held_promotions(customer.org_id, customer.customer_id)
            if p.points_offer_type == "LOYALTY_EARNING"
            and p.kind == ACTIVE
            and p.start_ms <= stamp <= p.end_ms
        ]
        if not earning:
            return None
        promotion = r.choice(earning)
        self._ds.overlay_enrolment(customer, promotion)
        return Change(
            "enrolled",
            customer.org_id,
            customer.customer_id,
            promotion.program_id,
            promotion.promotion_id,
        )

    def _summary_only(self, customer: Customer, r: Random, stamp: int) -> Change | None:
        pairs = self._active_held(customer, stamp)
        if not pairs:
            return None
        promotion = r.choice(pairs)
        activity = r.choice(promotion.activities)
        if r.random() < 0.5:
            incentive = Incentive(activity, "REWARD", promotion.reward_series[0], 1, stamp)
        else:
            incentive = Incentive(activity, "BADGES", promotion.badge_id, 1, stamp)
        self._ds.overlay_grant(customer, promotion, incentives=(incentive,))
        return Change(
            "summary_only",
            customer.org_id,
            customer.customer_id,
            promotion.program_id,
            promotion.promotion_id,
        )

    def new_promotions(self, count: int, holders_share: float) -> list[Change]:
        """`count` promotions in each org's first program, created in this day's last hour."""
        changes: list[Change] = []
        for org_id in self._ds.org_ids:
            program = self._ds.programs(org_id)[0]
            for k in range(count):
                promotion = self._ds.add_day_promotion(
                    program, self._day, k, self._day_end_ms, holders_share
                )
                changes.extend(
                    Change("new_promotion", org_id, cid, program.program_id, promotion.promotion_id)
                    for cid in self._ds.holder_ids(promotion)
                )
        return changes
