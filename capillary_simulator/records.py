"""The simulated records, as plain frozen values.

Response bodies are built from these (see `bodies.py`), so tests can reason about the data
in Python terms and compare with what the server sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

# Promotion kinds, by their dates relative to the reference date and to the day from which
# actionSummary reports benefits (2025-06-12).
ACTIVE = "ACTIVE"
EXPIRED = "EXPIRED"
UPCOMING = "UPCOMING"
ENDED_BEFORE_CUTOFF = "ENDED_BEFORE_CUTOFF"

POINTS_OFFER_TYPES = ("GENERIC", "LOYALTY", "LOYALTY_EARNING")
POINTS_CATEGORIES = (
    "REGULAR_POINTS",
    "PROMISED_POINTS",
    "BONUS_POINTS",
    "EXTERNAL_TRIGGER_BASED_POINTS",
)
CURRENCY_TYPES = ("REGULAR", "PROMISED", "EXTERNAL_TRIGGER_BASED")
INCENTIVE_ACTIONS = ("REWARD", "COUPONS", "BADGES", "ENROL", "OPTIN", "UPGRADE_TIER")


@dataclass(frozen=True, slots=True)
class Tier:
    serial: int
    name: str

    @property
    def description(self) -> str:
        return f"Tier {self.serial}"


@dataclass(frozen=True, slots=True)
class Program:
    program_id: int
    org_id: int
    org_index: int
    index_in_org: int
    global_index: int
    name: str
    description: str
    points_to_currency_ratio: float
    points_exchange_rate: float
    membership_period_value: int
    tiers: tuple[Tier, ...]
    currencies: tuple[str, ...]
    is_default: bool

    def tier(self, serial: int) -> Tier:
        return self.tiers[serial - 1]

    @property
    def top_serial(self) -> int:
        return len(self.tiers)


@dataclass(frozen=True, slots=True)
class Org:
    org_id: int
    index: int
    name: str
    programs: tuple[Program, ...]

    @property
    def is_home(self) -> bool:
        return self.index == 0


@dataclass(frozen=True, slots=True)
class Promotion:
    promotion_id: int
    org_id: int
    program_id: int
    index: int
    identifier: str
    name: str
    description: str
    points_offer_type: str
    kind: str  # ACTIVE, EXPIRED, UPCOMING or ENDED_BEFORE_CUTOFF
    start_ms: int
    end_ms: int
    created_on_ms: int
    last_modified_on_ms: int
    event_name: str
    activities: tuple[str, ...]
    reward_series: tuple[str, ...]
    coupon_series: str
    badge_id: str
    metadata: tuple[tuple[str, str, bool], ...]
    points_per_customer_limit: float
    times_per_customer_limit: int
    holders_share: float
    no_benefit_share: float
    misconfigured: bool
    added: bool
    # When holders' benefits were issued, if not the promotion's window up to the
    # reference date: promotions added on a simulated day earn in that day's last hour.
    benefits_window: tuple[int, int] | None = None

    @property
    def status(self) -> str:
        """The catalogue status: promotions that ended before the cutoff are EXPIRED too."""
        return EXPIRED if self.kind == ENDED_BEFORE_CUTOFF else self.kind

    @property
    def active(self) -> bool:
        return self.kind == ACTIVE


@dataclass(frozen=True, slots=True)
class Membership:
    """One customer's standing in one program (a `loyaltyProgramDetails` row)."""

    program_id: int
    loyalty_id: int
    slab_serial: int
    slab_name: str
    slab_expiry: str
    next_slab_serial: int
    next_slab_name: str
    next_slab_description: str
    loyalty_points: float
    lifetime_points: float
    redeemed: float
    expired: float
    returned: float
    adjusted: float
    cumulative_purchases: float
    delayed_points: float
    delayed_returned_points: float
    delayed_expired_points: float
    total_available_points: float
    total_returned_points: float
    upgrade_threshold: float

    @property
    def enrolled(self) -> bool:
        return self.loyalty_id != -1


@dataclass(frozen=True, slots=True)
class Customer:
    org_id: int
    org_index: int
    index: int
    customer_id: int
    first_name: str
    last_name: str
    mobile: str
    email: str
    external_id: str
    card_number: str
    wechat_id: str | None
    created_ms: int
    modified_ms: int
    city: str
    gender: str
    birth_date: str
    lifetime_purchases: float
    fleet_group_id: int | None
    heavy: bool
    memberships: tuple[Membership, ...]


class PointsGrant(NamedTuple):
    activity_id: str
    category: str
    total: float
    times: int
    last_ms: int


class CurrencyGrant(NamedTuple):
    activity_id: str
    name: str
    currency_type: str
    total: float
    times: int
    last_ms: int


class Incentive(NamedTuple):
    activity_id: str | None
    action: str
    action_id: str
    count: int
    last_ms: int


@dataclass(frozen=True, slots=True)
class Benefits:
    """What one customer earned in one promotion, per activity, before any aggregation."""

    points: tuple[PointsGrant, ...] = ()
    currencies: tuple[CurrencyGrant, ...] = ()
    incentives: tuple[Incentive, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.points or self.currencies or self.incentives)

    def since(self, cutoff_ms: int) -> Benefits:
        """Only what was last issued on or after `cutoff_ms` (what actionSummary reports)."""
        return Benefits(
            tuple(g for g in self.points if g.last_ms >= cutoff_ms),
            tuple(g for g in self.currencies if g.last_ms >= cutoff_ms),
            tuple(g for g in self.incentives if g.last_ms >= cutoff_ms),
        )

    def for_activity(self, activity_id: str) -> Benefits:
        return Benefits(
            tuple(g for g in self.points if g.activity_id == activity_id),
            tuple(g for g in self.currencies if g.activity_id == activity_id),
            tuple(g for g in self.incentives if g.activity_id == activity_id),
        )


class RosterRow(NamedTuple):
    org_id: int
    source: str
    identifier_name: str
    identifier_value: str
    account_id: str


EMPTY_BENEFITS = Benefits()
