"""Promotions of each program, and what each customer earned in them.

Promotion (g, p) draws from its own stream. Its index p picks the kind by date (active,
expired, ended before 2025-06-12, upcoming); dates are then drawn to match, relative to
the reference date. Its points offer type cycles GENERIC / LOYALTY / LOYALTY_EARNING.

Benefits of a held (customer, promotion) pair are grants per promotion activity: points
by category, alternate currencies, and incentives (REWARD, COUPONS, BADGES, UPGRADE_TIER;
ENROL and OPTIN belong to no activity), each last issued inside the promotion's window.
Every endpoint that reports benefits aggregates these same grants, so v2 and v3
actionSummary and promotionData usage agree.
"""

from __future__ import annotations

from random import Random
from typing import Any

from capillary_simulator import identifiers as ids
from capillary_simulator.config import SimulatorConfig
from capillary_simulator.hashing import Tag, mix, rng, unit
from capillary_simulator.records import (
    ACTIVE,
    CURRENCY_TYPES,
    EMPTY_BENEFITS,
    ENDED_BEFORE_CUTOFF,
    EXPIRED,
    POINTS_CATEGORIES,
    POINTS_OFFER_TYPES,
    UPCOMING,
    Benefits,
    CurrencyGrant,
    Incentive,
    PointsGrant,
    Program,
    Promotion,
)
from capillary_simulator.timefmt import BENEFITS_CUTOFF_MS, DAY_MS, date_ms

PROMOTION_TEMPLATES = (
    "Award Points",
    "Double Points Weekend",
    "Welcome Bonus",
    "Birthday Treat",
    "Refer a Friend",
    "Festive Bonanza",
    "Spend and Earn",
    "Summer Saver",
)
EVENT_NAMES = ("TransactionAdd", "CustomerRegistration", "TargetCompleted", "PointsRedemption")
# Promotion index p takes kind KIND_CYCLE[p % 8]; dates are then drawn to match.
KIND_CYCLE = (ACTIVE, EXPIRED, ACTIVE, ENDED_BEFORE_CUTOFF, UPCOMING, ACTIVE, EXPIRED, ACTIVE)
POINTS_FREE_SHARE = 0.1  # pairs that earned rewards or badges but no points


class PromotionFactory:
    """Derives promotions and the benefits earned in them."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._seed = config.seed
        self._ref_ms = date_ms(config.reference_date)

    def kind(self, start_ms: int, end_ms: int) -> str:
        if start_ms > self._ref_ms:
            return UPCOMING
        if end_ms < BENEFITS_CUTOFF_MS:
            return ENDED_BEFORE_CUTOFF
        if end_ms < self._ref_ms:
            return EXPIRED
        return ACTIVE

    def rng(self, program: Program, p: int) -> Random:
        return rng(self._seed, Tag.PROMOTION, ids.promotion_id(program.global_index, p))

    def base_promotion(self, program: Program, p: int) -> Promotion:
        """Promotion p of `program` as configured (not added at run time)."""
        r = self.rng(program, p)
        ref = self._ref_ms
        intended = KIND_CYCLE[p % len(KIND_CYCLE)]
        if intended == ACTIVE:
            start = ref - r.randint(20, 300) * DAY_MS
            end = ref + r.randint(30, 400) * DAY_MS
        elif intended == EXPIRED:
            end = ref - r.randint(5, 120) * DAY_MS
            start = end - r.randint(30, 180) * DAY_MS
        elif intended == UPCOMING:
            start = ref + r.randint(5, 60) * DAY_MS
            end = start + r.randint(30, 120) * DAY_MS
        else:
            end = BENEFITS_CUTOFF_MS - r.randint(5, 200) * DAY_MS
            start = end - r.randint(30, 120) * DAY_MS
        misconfigured_index = 2 if self._config.promotions_per_program >= 3 else 0
        template = PROMOTION_TEMPLATES[r.randrange(len(PROMOTION_TEMPLATES))]
        return self.promotion(
            program,
            p,
            r,
            name=f"{template} {p + 1}",
            description=f"{template} in {program.name}",
            points_offer_type=POINTS_OFFER_TYPES[(p + program.global_index) % 3],
            start_ms=start,
            end_ms=end - 1000,
            holders_share=self._config.holders_share,
            no_benefit_share=self._config.no_benefit_share,
            misconfigured=self._config.misconfigured_promotion
            and program.index_in_org == 0
            and p == misconfigured_index,
            added=False,
        )

    def promotion(
        self,
        program: Program,
        p: int,
        r: Random,
        *,
        name: str,
        description: str,
        points_offer_type: str,
        start_ms: int,
        end_ms: int,
        holders_share: float,
        no_benefit_share: float,
        misconfigured: bool,
        added: bool,
        modified_ms: int | None = None,
    ) -> Promotion:
        """A promotion with the given essentials; the rest is drawn from `r`."""
        identity, h2 = self._identity(program, p)
        created, modified = self._created_modified(start_ms, r, modified_ms)
        return Promotion(
            **identity,
            name=name,
            description=description,
            points_offer_type=points_offer_type,
            kind=self.kind(start_ms, end_ms),
            start_ms=start_ms,
            end_ms=end_ms,
            created_on_ms=created,
            last_modified_on_ms=modified,
            **_drawn_details(r, p, h2),
            holders_share=holders_share,
            no_benefit_share=no_benefit_share,
            misconfigured=misconfigured,
            added=added,
        )

    def _created_modified(
        self, start_ms: int, r: Random, modified_ms: int | None
    ) -> tuple[int, int]:
        """Creation before the start (and the reference date), modification since; or both
        at `modified_ms` for a promotion added while the simulator runs."""
        if modified_ms is not None:
            return modified_ms, modified_ms
        ref = self._ref_ms
        created = min(start_ms, ref) - r.randint(1, 30) * DAY_MS - r.randint(0, 86_399) * 1000
        return created, created + r.randint(0, (ref - created) // 1000) * 1000

    def _identity(self, program: Program, p: int) -> tuple[dict[str, Any], int]:
        """Ids of the `p`th promotion of `program`: its identifier a version-4 style UUID
        whose last group is the promotion id, so it inverts; and the hash the badge id is
        drawn from."""
        promotion_id = ids.promotion_id(program.global_index, p)
        h1 = mix(self._seed, Tag.UUID, promotion_id)
        h2 = mix(h1, promotion_id)
        identifier = (
            f"{h1 >> 32:08x}-{(h1 >> 16) & 0xFFFF:04x}-4{h1 & 0xFFF:03x}-"
            f"{8 | (h2 >> 62):x}{(h2 >> 48) & 0xFFF:03x}-{promotion_id:012x}"
        )
        identity = {
            "promotion_id": promotion_id,
            "org_id": program.org_id,
            "program_id": program.program_id,
            "index": p,
            "identifier": identifier,
        }
        return identity, h2

    def holds(self, customer_id: int, heavy: bool, promotion: Promotion) -> bool:
        if heavy:
            return True
        return unit(self._seed, Tag.HOLDS, customer_id, promotion.promotion_id) < (
            promotion.holders_share
        )

    def _window(self, customer_id: int, promotion: Promotion) -> tuple[int, int] | None:
        """When a holder's benefits were issued, or None when they earned nothing."""
        if promotion.misconfigured or promotion.kind == UPCOMING:
            return None
        pid = promotion.promotion_id
        if unit(self._seed, Tag.NO_BENEFIT, customer_id, pid) < promotion.no_benefit_share:
            return None
        if promotion.benefits_window is not None:
            return promotion.benefits_window
        low = promotion.start_ms
        if promotion.kind != ENDED_BEFORE_CUTOFF:
            low = max(low, BENEFITS_CUTOFF_MS)
        high = min(promotion.end_ms, self._ref_ms)
        return (low, high) if high > low else None

    def points(self, customer_id: int, promotion: Promotion) -> tuple[PointsGrant, ...]:
        """The points part of a holder's benefits, from a stream of its own so that
        promotionData's usage figures cost a fraction of the whole benefits."""
        window = self._window(customer_id, promotion)
        if window is None:
            return ()
        pid = promotion.promotion_id
        if unit(self._seed, Tag.POINTS_FREE, customer_id, pid) < POINTS_FREE_SHARE:
            return ()
        r = rng(self._seed, Tag.BENEFITS, customer_id, pid)
        low, high = window
        grants: list[PointsGrant] = []
        for activity in promotion.activities:
            if r.random() < 0.8 or not grants:
                chosen = r.sample(POINTS_CATEGORIES, r.randint(1, 2))
                for category in sorted(chosen, key=POINTS_CATEGORIES.index):
                    total = float(r.randrange(10, 1000, 10))
                    when = r.randrange(low, high) // 1000 * 1000
                    grants.append(PointsGrant(activity, category, total, r.randint(1, 4), when))
        return tuple(grants)

    def benefits(self, customer_id: int, promotion: Promotion, program: Program) -> Benefits:
        """What a holder earned in `promotion`, whenever it was issued."""
        window = self._window(customer_id, promotion)
        if window is None:
            return EMPTY_BENEFITS
        points = self.points(customer_id, promotion)
        cid, pid = customer_id, promotion.promotion_id
        draw = _Draw(rng(self._seed, Tag.INCENTIVES, cid, pid), *window)
        currencies: list[CurrencyGrant] = []
        incentives: list[Incentive] = []
        for activity in promotion.activities:
            _activity_benefits(draw, activity, promotion, program, currencies, incentives)
        if not points and not any(g.action in ("REWARD", "BADGES") for g in incentives):
            # Something v2 can show too, so that v2 and v3 agree on 8116.
            series = promotion.reward_series[0]
            activity = promotion.activities[0]
            incentives.insert(0, Incentive(activity, "REWARD", series, 1, draw.when()))
        issual = str(1_000_000 + mix(self._seed, cid, pid) % 9_000_000)
        if promotion.points_offer_type == "LOYALTY_EARNING":
            incentives.append(Incentive(None, "ENROL", issual, 1, draw.when()))
        if draw.r.random() < 0.2:
            incentives.append(Incentive(None, "OPTIN", issual, 1, draw.when()))
        return Benefits(points, tuple(currencies), tuple(incentives))


def _drawn_details(r: Random, p: int, h2: int) -> dict[str, Any]:
    """The promotion's details drawn from `r`, in the order they always were."""
    return {
        "event_name": EVENT_NAMES[r.randrange(len(EVENT_NAMES))],
        "activities": tuple(f"activity_{k}" for k in range(1, 2 + p % 3)),
        "reward_series": tuple(str(r.randrange(100_000, 999_999)) for _ in range(2)),
        "coupon_series": str(r.randrange(5_000_000, 5_999_999)),
        "badge_id": f"{mix(h2, 1):016x}{mix(h2, 2) >> 32:08x}",
        "metadata": (("channel", "app", True), ("segment", "all", False)) if p % 3 == 1 else (),
        "points_per_customer_limit": 20_000.0 if p % 2 == 1 else 0.0,
        "times_per_customer_limit": 50 if p % 4 == 3 else 0,
    }


class _Draw:
    """The random stream of one holder's incentives and the window they were issued in."""

    def __init__(self, r: Random, low: int, high: int) -> None:
        self.r = r
        self._low = low
        self._high = high

    def when(self) -> int:
        return self.r.randrange(self._low, self._high) // 1000 * 1000


def _activity_benefits(
    draw: _Draw,
    activity: str,
    promotion: Promotion,
    program: Program,
    currencies: list[CurrencyGrant],
    incentives: list[Incentive],
) -> None:
    """Currencies and incentives one activity issued, each with its own chance."""
    r = draw.r
    if r.random() < 0.4:
        name = r.choice(program.currencies)
        kind = r.choice(CURRENCY_TYPES)
        total = float(r.randrange(5, 500, 5))
        currencies.append(CurrencyGrant(activity, name, kind, total, r.randint(1, 4), draw.when()))
    if r.random() < 0.4:
        series = r.choice(promotion.reward_series)
        incentives.append(Incentive(activity, "REWARD", series, r.randint(1, 3), draw.when()))
    if r.random() < 0.3:
        coupon = promotion.coupon_series
        incentives.append(Incentive(activity, "COUPONS", coupon, r.randint(1, 3), draw.when()))
    if r.random() < 0.3:
        badge = promotion.badge_id
        incentives.append(Incentive(activity, "BADGES", badge, r.randint(1, 2), draw.when()))
    if r.random() < 0.1:
        tier = str(r.randint(2, program.top_serial))
        incentives.append(Incentive(activity, "UPGRADE_TIER", tier, 1, draw.when()))
