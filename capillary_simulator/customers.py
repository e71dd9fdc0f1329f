"""Customers and their standing in each program, derived from (seed, org, index).

Ordinary customers are internally consistent: balances are not negative, available
points are loyalty plus delayed points, lifetime points cover the balance, the next slab
is the current one + 1 (-1 with an empty name at the top tier), and tiers above the base
expire after the reference date. Customers not enrolled in a program (`loyaltyId -1`)
have zero points but still a tier, as the reference pages show.

With `anomalies` on, six customers per org each break exactly one of those rules in one
program, at indices spread over the org (`plant_sites`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from random import Random

from capillary_simulator import identifiers as ids
from capillary_simulator.config import SimulatorConfig
from capillary_simulator.hashing import Tag, mix, rng, unit
from capillary_simulator.records import Customer, Membership, Org, Program
from capillary_simulator.timefmt import DAY_MS, date_ms, end_of_day_z

FIRST_NAMES = (
    "Asha", "Bruno", "Chen", "Dara", "Elif", "Farah", "Goran", "Hana", "Ivo", "Jaya",
    "Kofi", "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Ravi", "Sofia", "Tariq",
    "Uma", "Vikram", "Wen", "Ximena", "Yusuf", "Zara",
)  # fmt: skip
LAST_NAMES = (
    "Adeyemi", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Gupta", "Haddad",
    "Iyer", "Jansen", "Kowalski", "Lindqvist", "Mensah", "Novak", "Okafor", "Patel",
    "Quispe", "Rossi", "Silva", "Tanaka", "Urbina", "Varga", "Wagner", "Yilmaz",
)  # fmt: skip
CITIES = ("Mumbai", "Bengaluru", "Pune", "Chennai", "Delhi", "Kolkata", "Hyderabad", "Jaipur")
GENDERS = ("Male", "Female", "Other")
TOP_TIER_EVERY = 6  # customer i sits at the top tier of every program when i % 6 == 5
WECHAT_EVERY = 5  # customer i has a WeChat profile when i % 5 == 4
FLEET_EVERY = 4  # customer i belongs to fleet group 700 + i % 3 when i % 4 == 1

ANOMALY_KINDS = (
    "negative_balance",
    "available_points_mismatch",
    "next_slab_mismatch",
    "points_not_enrolled",
    "slab_expired_kept",
    "lifetime_below_loyalty",
)

_NO_POINTS: dict[str, float] = {
    "loyalty_points": 0.0,
    "lifetime_points": 0.0,
    "redeemed": 0.0,
    "expired": 0.0,
    "returned": 0.0,
    "adjusted": 0.0,
    "delayed_points": 0.0,
}


def plant_sites(config: SimulatorConfig, orgs: tuple[Org, ...]) -> dict[tuple[int, int], str]:
    """(customer id, program id) -> anomaly kind, for every planted anomaly."""
    planted: dict[tuple[int, int], str] = {}
    if not config.anomalies:
        return planted
    n = config.customers_per_org
    count = len(ANOMALY_KINDS)
    for org in orgs:
        for j, kind in enumerate(ANOMALY_KINDS):
            if n >= count:
                index = (j * n) // count + (n // count) // 2
            elif j < n:
                index = j
            else:
                break
            program = org.programs[j % len(org.programs)]
            planted[(ids.customer_id(org.index, index), program.program_id)] = kind
    return planted


class CustomerFactory:
    """Derives any customer of the data set on request."""

    def __init__(self, config: SimulatorConfig, orgs: tuple[Org, ...]) -> None:
        self._config = config
        self._seed = config.seed
        self._ref_ms = date_ms(config.reference_date)
        self._orgs = orgs
        self.planted = plant_sites(config, orgs)

    def names(self, o: int, i: int) -> tuple[str, str]:
        """First and last name, cheap enough to build identifiers without a whole record."""
        key = mix(self._seed, Tag.NAME, o, i)
        return FIRST_NAMES[key % len(FIRST_NAMES)], LAST_NAMES[(key >> 24) % len(LAST_NAMES)]

    def is_heavy(self, index: int) -> bool:
        """Heavy customers hold every promotion of their org; spread evenly over indices."""
        share = self._config.heavy_customer_share
        return int((index + 1) * share) > int(index * share)

    def customer(self, o: int, i: int) -> Customer:
        org = self._orgs[o]
        r = rng(self._seed, Tag.CUSTOMER, o, i)
        first, last = self.names(o, i)
        created = self._ref_ms - r.randint(60, 1500) * DAY_MS - r.randint(0, 86_399) * 1000
        modified = created + r.randint(0, (self._ref_ms - created) // 1000) * 1000
        birth = date(1960 + r.randint(0, 45), r.randint(1, 12), r.randint(1, 28))
        memberships = tuple(self._membership(p, o, i) for p in org.programs)
        top_purchases = max(m.cumulative_purchases for m in memberships)
        return Customer(
            org_id=org.org_id,
            org_index=o,
            index=i,
            customer_id=ids.customer_id(o, i),
            first_name=first,
            last_name=last,
            mobile=ids.mobile(o, i),
            email=ids.email(o, i, first, last),
            external_id=ids.external_id(o, i),
            card_number=ids.card_number(o, i),
            wechat_id=ids.wechat_id(o, i) if i % WECHAT_EVERY == WECHAT_EVERY - 1 else None,
            created_ms=created,
            modified_ms=modified,
            city=r.choice(CITIES),
            gender=r.choice(GENDERS),
            birth_date=f"{birth.isoformat()}T00:00:00Z",
            lifetime_purchases=top_purchases + float(r.randrange(0, 5000, 50)),
            fleet_group_id=700 + i % 3 if i % FLEET_EVERY == 1 else None,
            heavy=self.is_heavy(i),
            memberships=memberships,
        )

    def _membership(self, program: Program, o: int, i: int) -> Membership:
        cid = ids.customer_id(o, i)
        r = rng(self._seed, Tag.MEMBERSHIP, cid, program.program_id)
        top = program.top_serial
        if i % TOP_TIER_EVERY == TOP_TIER_EVERY - 1:
            serial = top
        else:
            serial = r.choices(range(1, top), weights=range(top - 1, 0, -1))[0]
        enrolled = unit(self._seed, Tag.ENROLMENT, cid, program.program_id) >= (
            self._config.unenrolled_share
        )
        cumulative = float(r.randrange(0, 300_000, 50))
        expiry = self._slab_expiry(serial, r)
        loyalty_id = ids.loyalty_id(program.program_id, i) if enrolled else -1
        points = _points(r) if enrolled else _NO_POINTS
        membership = build_membership(program, loyalty_id, serial, expiry, cumulative, **points)
        kind = self.planted.get((cid, program.program_id))
        if kind is not None:
            membership = self._plant(kind, membership, program, i)
        return membership

    def _slab_expiry(self, serial: int, r: Random) -> str:
        if serial == 1:  # the base tier does not expire
            return end_of_day_z(date(2125, r.randint(1, 12), r.randint(1, 28)))
        days = r.randint(30, 720)
        return end_of_day_z(self._config.reference_date + timedelta(days=days))

    def _plant(self, kind: str, normal: Membership, program: Program, i: int) -> Membership:
        """The membership carrying exactly the anomaly `kind`, and nothing else wrong."""
        r = rng(self._seed, Tag.ANOMALY, normal.program_id, i)
        enrolled_id = ids.loyalty_id(program.program_id, i)
        points = _points(r)
        serial, expiry = normal.slab_serial, normal.slab_expiry
        if serial == program.top_serial:
            serial = 2
            expiry = self._slab_expiry(serial, r)
        cumulative = normal.cumulative_purchases
        if kind == "negative_balance":
            points.update(loyalty_points=-350.0, delayed_points=0.0)
        elif kind == "points_not_enrolled":
            points = dict(_NO_POINTS, loyalty_points=1200.0, lifetime_points=1200.0)
            return build_membership(program, -1, serial, expiry, cumulative, **points)
        elif kind == "next_slab_mismatch":
            base_expiry = self._slab_expiry(1, r)
            base = build_membership(program, enrolled_id, 1, base_expiry, cumulative, **points)
            third = program.tier(3)
            return replace(
                base,
                next_slab_serial=3,
                next_slab_name=third.name,
                next_slab_description=third.description,
            )
        elif kind == "slab_expired_kept":
            lapsed = end_of_day_z(self._config.reference_date - timedelta(days=20))
            return build_membership(program, enrolled_id, 2, lapsed, cumulative, **points)
        elif kind == "lifetime_below_loyalty":
            loyalty = max(points["loyalty_points"], 1000.0)
            points.update(loyalty_points=loyalty, lifetime_points=loyalty - 500.0)
        membership = build_membership(program, enrolled_id, serial, expiry, cumulative, **points)
        if kind == "available_points_mismatch":
            membership = replace(
                membership, total_available_points=membership.total_available_points + 250.0
            )
        return membership


def _points(r: Random) -> dict[str, float]:
    """Consistent balances of an enrolled member: lifetime covers everything spent."""
    loyalty = float(r.randrange(0, 30_000, 5))
    redeemed = float(r.randrange(0, 8_000, 5))
    expired = float(r.randrange(0, 4_000, 5))
    returned = float(r.choice((0, 0, 0, 25, 50)))
    return {
        "loyalty_points": loyalty,
        "lifetime_points": loyalty + redeemed + expired + returned,
        "redeemed": redeemed,
        "expired": expired,
        "returned": returned,
        "adjusted": float(r.choice((0, 0, 0, 0, 10))),
        "delayed_points": float(r.choice((0, 0, 0, 100, 250))),
    }


def build_membership(
    program: Program,
    loyalty_id: int,
    serial: int,
    expiry: str,
    cumulative: float,
    *,
    loyalty_points: float,
    lifetime_points: float,
    redeemed: float,
    expired: float,
    returned: float,
    adjusted: float,
    delayed_points: float,
) -> Membership:
    base = Membership(
        program_id=program.program_id,
        loyalty_id=loyalty_id,
        slab_serial=serial,
        slab_name="",
        slab_expiry=expiry,
        next_slab_serial=-1,
        next_slab_name="",
        next_slab_description="",
        loyalty_points=loyalty_points,
        lifetime_points=lifetime_points,
        redeemed=redeemed,
        expired=expired,
        returned=returned,
        adjusted=adjusted,
        cumulative_purchases=cumulative,
        delayed_points=delayed_points,
        delayed_returned_points=0.0,
        delayed_expired_points=0.0,
        total_available_points=loyalty_points + delayed_points,
        total_returned_points=returned,
        upgrade_threshold=0.0,
    )
    return with_slab(program, base, serial, expiry)


def with_slab(program: Program, membership: Membership, serial: int, expiry: str) -> Membership:
    """The membership at tier `serial`, with the next slab that the ladder implies."""
    tier = program.tier(serial)
    if serial == program.top_serial:
        return replace(
            membership,
            slab_serial=serial,
            slab_name=tier.name,
            slab_expiry=expiry,
            next_slab_serial=-1,
            next_slab_name="",
            next_slab_description="",
            upgrade_threshold=0.0,
        )
    following = program.tier(serial + 1)
    return replace(
        membership,
        slab_serial=serial,
        slab_name=tier.name,
        slab_expiry=expiry,
        next_slab_serial=following.serial,
        next_slab_name=following.name,
        next_slab_description=following.description,
        upgrade_threshold=3000.0 * serial,
    )
