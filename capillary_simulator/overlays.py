"""What simulated days changed, kept apart from the derived data and laid over it.

Derived records stay pure (and cached); the overlays hold only what churn changed, so
memory grows with the changes, not with the data set. Each overlay composes with the
derived value when a record is read: points balances move, benefits gain grants,
promotionData gains enrolments.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from capillary_simulator.records import Benefits, Incentive, Membership, PointsGrant

Pair = tuple[int, int]  # (customer id, program id) or (customer id, promotion id)


@dataclass
class Overlays:
    """Points moved per (customer, program); grants and enrolments per (customer,
    promotion)."""

    earned: dict[Pair, float] = field(default_factory=dict)
    redeemed: dict[Pair, float] = field(default_factory=dict)
    grants: dict[Pair, Benefits] = field(default_factory=dict)
    enrolments: dict[Pair, int] = field(default_factory=dict)

    def add_points(self, pair: Pair, *, earned: float = 0.0, redeemed: float = 0.0) -> None:
        if earned:
            self.earned[pair] = self.earned.get(pair, 0.0) + earned
        if redeemed:
            self.redeemed[pair] = self.redeemed.get(pair, 0.0) + redeemed

    def add_grant(
        self,
        pair: Pair,
        points: tuple[PointsGrant, ...] = (),
        incentives: tuple[Incentive, ...] = (),
    ) -> None:
        old = self.grants.get(pair, Benefits())
        self.grants[pair] = Benefits(
            old.points + points, old.currencies, old.incentives + incentives
        )

    def membership(self, customer_id: int, m: Membership) -> Membership:
        """`m` with the points earned and redeemed since: the balance moves, lifetime
        points grow with earnings, available stays loyalty + delayed points."""
        pair = (customer_id, m.program_id)
        earned, redeemed = self.earned.get(pair, 0.0), self.redeemed.get(pair, 0.0)
        if not earned and not redeemed:
            return m
        loyalty = m.loyalty_points + earned - redeemed
        return replace(
            m,
            loyalty_points=loyalty,
            lifetime_points=m.lifetime_points + earned,
            redeemed=m.redeemed + redeemed,
            total_available_points=loyalty + m.delayed_points,
        )

    def benefits(self, customer_id: int, promotion_id: int, base: Benefits) -> Benefits:
        extra = self.grants.get((customer_id, promotion_id))
        if extra is None:
            return base
        return Benefits(
            base.points + extra.points, base.currencies, base.incentives + extra.incentives
        )

    def points(
        self, customer_id: int, promotion_id: int, base: tuple[PointsGrant, ...]
    ) -> tuple[PointsGrant, ...]:
        extra = self.grants.get((customer_id, promotion_id))
        return base + extra.points if extra is not None else base
