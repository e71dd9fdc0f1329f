"""The simulator's data set: deterministic, derived on request, any size.

How every record is derived
---------------------------
Nothing is stored per customer. A record is a pure function of the config and of the
record's coordinates, drawn from its own random stream keyed by (seed, kind, coordinates)
(`hashing.py`). Deriving a record never depends on what was derived before, so a data set
of 100,000 customers per org starts instantly, uses no memory until asked, and two
simulators with the same config serve the same bytes.

- Orgs: index o has id 51135 + o. Org 0 is the home org of the credential; every other
  org is connected to it (reached with the `DATA-SCOPE` headers).
- Programs: numbered globally (g) across orgs, id 2568 + g, each with a tier ladder
  (Bronze/Silver/Gold/Diamond and others; serial numbers 1..N, descriptions "Tier N").
- Customers: (o, i) has id 387,000,000 + o * 10,000,000 + i. Its mobile, email,
  external id, card number and WeChat id encode (o, i) (`identifiers.py`); a lookup
  decodes the value, derives that customer and compares the whole value.
  Per program a customer is enrolled or not (`unenrolled_share`: `loyaltyId -1`, zero
  points, still a tier); every sixth customer sits at the top tier of every program
  (`nextSlabSerialNumber -1`, empty `nextSlab`). Ordinary customers are internally
  consistent: balances are not negative, available = loyalty + delayed points, lifetime
  points cover the balance, the next slab is the current one + 1, tiers above the base
  expire after the reference date.
- Promotions: (g, p) has id 1,100,000,000 + g * 1,000,000 + p and a UUID identifier whose
  last group is that id in hex. Index p cycles through kinds by date: active, expired,
  ended before 2025-06-12 (actionSummary cannot report those: 8116) and upcoming; points
  offer types cycle GENERIC / LOYALTY / LOYALTY_EARNING. With `misconfigured_promotion`,
  one active promotion of each org's first program gives nothing to anyone (8116).
- Holdings: a customer holds a promotion of its org with chance `holders_share`; heavy
  customers (`heavy_customer_share`, spread evenly over the indices) hold them all.
- Benefits of a held pair: nothing with chance `no_benefit_share` (8116), otherwise
  points by category, alternate currencies and incentives (REWARD, COUPONS, BADGES,
  UPGRADE_TIER per activity; ENROL and OPTIN without one), all issued inside the
  promotion's window. v2 and v3 actionSummary and promotionData usage are aggregations of
  the same grants, so they agree.
- Tier anomalies (`anomalies=True`): six customers per org each carry one anomaly in one
  program (`planted_anomalies()`).
- Dates come from `reference_date`; the wall clock is never read. The only state is what
  the admin endpoints add: new promotions and tier changes, applied on top.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, overload

from loyalty_sync.capillary.simulator import bodies
from loyalty_sync.capillary.simulator import identifiers as ids
from loyalty_sync.capillary.simulator.config import SimulatorConfig
from loyalty_sync.capillary.simulator.hashing import Tag, mix, rng, unit
from loyalty_sync.capillary.simulator.records import (
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
    Customer,
    Incentive,
    Membership,
    Org,
    PointsGrant,
    Program,
    Promotion,
    RosterRow,
    Tier,
)
from loyalty_sync.capillary.simulator.timefmt import (
    BENEFITS_CUTOFF_MS,
    DAY_MS,
    date_ms,
    end_of_day_z,
    parse_instant_ms,
)

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
ORG_BRANDS = ("DocDemo", "DocPartner", "DocOutlet", "DocFuel")
PROGRAM_NAMES = ("Rewards Club", "Partner Miles", "Staff Perks", "Fuel Points", "Kids Club")
LADDERS = (
    ("Bronze", "Silver", "Gold", "Diamond"),
    ("Topaz", "Coral", "Opal"),
    ("Blue", "Silver", "Gold", "Platinum", "Black"),
)
CURRENCY_SETS = (("DocCoin",), ("STARS", "COINS"), ("MILES",))
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
TOP_TIER_EVERY = 6  # customer i sits at the top tier of every program when i % 6 == 5
WECHAT_EVERY = 5  # customer i has a WeChat profile when i % 5 == 4
FLEET_EVERY = 4  # customer i belongs to fleet group 700 + i % 3 when i % 4 == 1
ROSTER_KINDS = ("mobile", "email", "externalId", "cardnumber")

ANOMALY_KINDS = (
    "negative_balance",
    "available_points_mismatch",
    "next_slab_mismatch",
    "points_not_enrolled",
    "slab_expired_kept",
    "lifetime_below_loyalty",
)
AnomalySite = tuple[int, int, int]  # (org_id, program_id, customer_id)


class CustomerSequence(Sequence[Customer]):
    """The customers of one org, derived on access."""

    def __init__(self, dataset: SimulatorDataset, org_index: int) -> None:
        self._dataset = dataset
        self._org_index = org_index

    def __len__(self) -> int:
        return self._dataset.config.customers_per_org

    @overload
    def __getitem__(self, index: int) -> Customer: ...
    @overload
    def __getitem__(self, index: slice) -> list[Customer]: ...
    def __getitem__(self, index: int | slice) -> Customer | list[Customer]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._dataset._customer_at(self._org_index, index)


class SimulatorDataset:
    """All the data one simulator serves, with response bodies as dicts.

    The `*_body` methods return exactly what the server serialises for a successful call,
    so tests can compute expected answers in Python.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._seed = self.config.seed
        self._ref_ms = date_ms(self.config.reference_date)
        self._lock = threading.RLock()
        self._orgs = self._build_orgs()
        self._org_by_id = {org.org_id: org for org in self._orgs}
        self._programs = {p.program_id: p for org in self._orgs for p in org.programs}
        self._programs_by_global = {p.global_index: p for p in self._programs.values()}
        self._promotion_cache: dict[int, tuple[Promotion, ...]] = {}
        self._added: dict[int, list[Promotion]] = {}
        self._tier_overrides: dict[tuple[int, int], tuple[int, str | None, str | None]] = {}
        self._overridden_customers: set[int] = set()
        self._planted = self._plant_anomalies()
        self._customer_at_cached = lru_cache(maxsize=16384)(self._derive_customer)
        self._held_cached = lru_cache(maxsize=16384)(self._derive_held_ids)

    # ----------------------------------------------------------------- orgs, programs
    @property
    def org_ids(self) -> list[int]:
        """Every org id, home org first."""
        return [org.org_id for org in self._orgs]

    @property
    def home_org_id(self) -> int:
        return self._orgs[0].org_id

    def org(self, org_id: int) -> Org | None:
        return self._org_by_id.get(org_id)

    def programs(self, org_id: int) -> tuple[Program, ...]:
        org = self._org_by_id.get(org_id)
        return org.programs if org else ()

    def program(self, program_id: int) -> Program | None:
        return self._programs.get(program_id)

    def _build_orgs(self) -> tuple[Org, ...]:
        orgs = []
        global_index = 0
        for o, count in enumerate(self.config.program_counts()):
            org_id = ids.org_id(o)
            brand = ORG_BRANDS[o % len(ORG_BRANDS)]
            programs = []
            for k in range(count):
                g = global_index
                name = f"{brand} {PROGRAM_NAMES[k % len(PROGRAM_NAMES)]}"
                if k >= len(PROGRAM_NAMES):
                    name += f" {k + 1}"
                ladder = LADDERS[g % len(LADDERS)]
                ratio = (1.0, 0.5, 0.25)[g % 3]
                programs.append(
                    Program(
                        program_id=ids.PROGRAM_ID_BASE + g,
                        org_id=org_id,
                        org_index=o,
                        index_in_org=k,
                        global_index=g,
                        name=name,
                        description=f"{name} loyalty program of {brand}",
                        points_to_currency_ratio=ratio,
                        points_exchange_rate=1.0 / ratio,
                        membership_period_value=(12, 24, 36)[k % 3],
                        tiers=tuple(Tier(s + 1, n) for s, n in enumerate(ladder)),
                        currencies=CURRENCY_SETS[g % len(CURRENCY_SETS)],
                        is_default=k == 0,
                    )
                )
                global_index += 1
            orgs.append(Org(org_id, o, brand, tuple(programs)))
        return tuple(orgs)

    # ----------------------------------------------------------------- customers
    def customers(self, org_id: int) -> CustomerSequence:
        """The customers of `org_id` as a lazy sequence (empty for an unknown org)."""
        org = self._org_by_id.get(org_id)
        if org is None:
            raise KeyError(f"unknown org {org_id}")
        return CustomerSequence(self, org.index)

    def customer_by_index(self, org_id: int, index: int) -> Customer:
        return self.customers(org_id)[index]

    def customer_by_id(self, customer_id: int) -> Customer | None:
        position = ids.customer_position(customer_id)
        if position is None or not self._exists(position):
            return None
        return self._customer_at(*position)

    def find_customer(
        self,
        identifier_name: str,
        identifier_value: str,
        *,
        source: str = "INSTORE",
        account_id: str | None = None,
    ) -> Customer | None:
        """The customer a lookup by one identifier finds in any org, or None.

        INSTORE (and ALL) profiles carry mobile, email, external id and card number; the
        WeChat profile lives under source WECHAT with the org's account id. `id` finds a
        customer whatever the source.
        """
        kind = identifier_name.strip().lower()
        value = identifier_value.strip()
        position = ids.decode(kind, value)
        if position is None or not self._exists(position):
            return None
        o, i = position
        source = source.strip().upper()
        if kind == "id":
            return self._customer_at(o, i) if value == str(ids.customer_id(o, i)) else None
        if kind == "wechat":
            if i % WECHAT_EVERY != WECHAT_EVERY - 1 or value != ids.wechat_id(o, i):
                return None
            if source == "ALL" or (source == "WECHAT" and account_id == ids.wechat_account(o)):
                return self._customer_at(o, i)
            return None
        if source not in ("INSTORE", "ALL"):
            return None
        expected = {
            "mobile": lambda: ids.mobile(o, i),
            "email": lambda: ids.email(o, i, *self._names(o, i)),
            "externalid": lambda: ids.external_id(o, i),
            "cardnumber": lambda: ids.card_number(o, i),
        }.get(kind)
        if expected is None:
            return None
        matches = value.lower() == expected() if kind == "email" else value == expected()
        return self._customer_at(o, i) if matches else None

    def is_heavy(self, index: int) -> bool:
        """Heavy customers hold every promotion of their org; spread evenly over indices."""
        share = self.config.heavy_customer_share
        return int((index + 1) * share) > int(index * share)

    def heavy_customers(self, org_id: int) -> list[Customer]:
        customers = self.customers(org_id)
        return [customers[i] for i in range(len(customers)) if self.is_heavy(i)]

    def _exists(self, position: ids.Position) -> bool:
        return (
            0 <= position.org_index < len(self._orgs)
            and 0 <= position.index < self.config.customers_per_org
        )

    def _names(self, o: int, i: int) -> tuple[str, str]:
        key = mix(self._seed, Tag.NAME, o, i)
        first = FIRST_NAMES[key % len(FIRST_NAMES)]
        last = LAST_NAMES[(key >> 24) % len(LAST_NAMES)]
        return first, last

    def _customer_at(self, o: int, i: int) -> Customer:
        customer = self._customer_at_cached(o, i)
        if customer.customer_id in self._overridden_customers:
            return self._with_tier_overrides(customer)
        return customer

    def _derive_customer(self, o: int, i: int) -> Customer:
        org = self._orgs[o]
        cid = ids.customer_id(o, i)
        r = rng(self._seed, Tag.CUSTOMER, o, i)
        first, last = self._names(o, i)
        created = self._ref_ms - r.randint(60, 1500) * DAY_MS - r.randint(0, 86_399) * 1000
        modified = created + r.randint(0, (self._ref_ms - created) // 1000) * 1000
        birth = date(1960 + r.randint(0, 45), r.randint(1, 12), r.randint(1, 28))
        memberships = tuple(self._derive_membership(p, o, i) for p in org.programs)
        top_purchases = max(m.cumulative_purchases for m in memberships)
        return Customer(
            org_id=org.org_id,
            org_index=o,
            index=i,
            customer_id=cid,
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

    # ----------------------------------------------------------------- memberships
    def membership(self, customer: Customer, program_id: int) -> Membership | None:
        for membership in customer.memberships:
            if membership.program_id == program_id:
                return membership
        return None

    def _derive_membership(self, program: Program, o: int, i: int) -> Membership:
        cid = ids.customer_id(o, i)
        r = rng(self._seed, Tag.MEMBERSHIP, cid, program.program_id)
        top = program.top_serial
        if i % TOP_TIER_EVERY == TOP_TIER_EVERY - 1:
            serial = top
        else:
            serial = r.choices(range(1, top), weights=range(top - 1, 0, -1))[0]
        enrolled = unit(self._seed, Tag.ENROLMENT, cid, program.program_id) >= (
            self.config.unenrolled_share
        )
        cumulative = float(r.randrange(0, 300_000, 50))
        expiry = self._slab_expiry(serial, r)
        loyalty_id = ids.loyalty_id(program.program_id, i) if enrolled else -1
        points = _points(r) if enrolled else _NO_POINTS
        membership = _membership(program, loyalty_id, serial, expiry, cumulative, **points)
        kind = self._planted.get((cid, program.program_id))
        if kind is not None:
            membership = self._plant(kind, membership, program, i)
        return membership

    def _slab_expiry(self, serial: int, r: Any) -> str:
        if serial == 1:  # the base tier does not expire
            return end_of_day_z(date(2125, r.randint(1, 12), r.randint(1, 28)))
        days = r.randint(30, 720)
        return end_of_day_z(self.config.reference_date + timedelta(days=days))

    def _plant_anomalies(self) -> dict[tuple[int, int], str]:
        planted: dict[tuple[int, int], str] = {}
        if not self.config.anomalies:
            return planted
        n = self.config.customers_per_org
        count = len(ANOMALY_KINDS)
        for org in self._orgs:
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

    def _plant(self, kind: str, normal: Membership, program: Program, i: int) -> Membership:
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
            return _membership(program, -1, serial, expiry, cumulative, **points)
        elif kind == "next_slab_mismatch":
            base = _membership(
                program, enrolled_id, 1, self._slab_expiry(1, r), cumulative, **points
            )
            third = program.tier(3)
            return replace(
                base,
                next_slab_serial=3,
                next_slab_name=third.name,
                next_slab_description=third.description,
            )
        elif kind == "slab_expired_kept":
            day = self.config.reference_date - timedelta(days=20)
            return _membership(program, enrolled_id, 2, end_of_day_z(day), cumulative, **points)
        elif kind == "lifetime_below_loyalty":
            loyalty = max(points["loyalty_points"], 1000.0)
            points.update(loyalty_points=loyalty, lifetime_points=loyalty - 500.0)
        membership = _membership(program, enrolled_id, serial, expiry, cumulative, **points)
        if kind == "available_points_mismatch":
            membership = replace(
                membership, total_available_points=membership.total_available_points + 250.0
            )
        return membership

    def planted_anomalies(self) -> dict[str, list[AnomalySite]]:
        """Every planted tier anomaly by kind: (org_id, program_id, customer_id) sites."""
        result: dict[str, list[AnomalySite]] = {kind: [] for kind in ANOMALY_KINDS}
        for (cid, program_id), kind in self._planted.items():
            program = self._programs[program_id]
            result[kind].append((program.org_id, program_id, cid))
        return result

    # ----------------------------------------------------------------- tier changes
    def set_tier(
        self,
        org_id: int,
        customer_id: int,
        program_id: int,
        slab_serial: int,
        *,
        slab_name: str | None = None,
        slab_expiry_date: str | None = None,
    ) -> Membership:
        """Move a customer to another tier from now on; returns the new membership."""
        customer = self.customer_by_id(customer_id)
        program = self._programs.get(program_id)
        if customer is None or customer.org_id != org_id:
            raise ValueError(f"org {org_id} has no customer {customer_id}")
        if program is None or program.org_id != org_id:
            raise ValueError(f"org {org_id} has no program {program_id}")
        if not 1 <= slab_serial <= program.top_serial:
            raise ValueError(f"program {program_id} has tiers 1 to {program.top_serial}")
        expiry = None
        if slab_expiry_date:
            day = date.fromisoformat(slab_expiry_date.strip()[:10])
            expiry = end_of_day_z(day)
        with self._lock:
            self._tier_overrides[(customer_id, program_id)] = (slab_serial, slab_name, expiry)
            self._overridden_customers.add(customer_id)
        updated = self.membership(self._customer_at(customer.org_index, customer.index), program_id)
        assert updated is not None
        return updated

    def _with_tier_overrides(self, customer: Customer) -> Customer:
        memberships = []
        for m in customer.memberships:
            override = self._tier_overrides.get((customer.customer_id, m.program_id))
            if override is None:
                memberships.append(m)
                continue
            serial, name, expiry = override
            program = self._programs[m.program_id]
            moved = _with_slab(program, m, serial, expiry or m.slab_expiry)
            if name:
                moved = replace(moved, slab_name=name)
            memberships.append(moved)
        return replace(customer, memberships=tuple(memberships))

    # ----------------------------------------------------------------- promotions
    def promotions(self, org_id: int, program_id: int | None = None) -> list[Promotion]:
        """Promotions of one program, or of every program of the org, by id."""
        result: list[Promotion] = []
        for program in self.programs(org_id):
            if program_id is None or program.program_id == program_id:
                result.extend(self._program_promotions(program))
        return result

    def all_promotions(self, org_ids: Collection[int] | None = None) -> list[Promotion]:
        chosen = self.org_ids if org_ids is None else org_ids
        return [p for org_id in chosen for p in self.promotions(org_id)]

    def promotion(self, promotion_id: int) -> Promotion | None:
        position = ids.promotion_position(promotion_id)
        if position is None:
            return None
        program = self._programs_by_global.get(position[0])
        if program is None:
            return None
        promotions = self._program_promotions(program)
        index = position[1]
        return promotions[index] if index < len(promotions) else None

    def promotion_by_identifier(self, identifier: str) -> Promotion | None:
        """Find a promotion by its UUID, whose last group is the promotion id in hex."""
        try:
            promotion_id = int(identifier.strip().rsplit("-", 1)[-1], 16)
        except ValueError:
            return None
        promotion = self.promotion(promotion_id)
        if promotion is None or promotion.identifier != identifier.strip().lower():
            return None
        return promotion

    def misconfigured_promotions(self) -> list[Promotion]:
        return [p for p in self.all_promotions() if p.misconfigured]

    def _program_promotions(self, program: Program) -> tuple[Promotion, ...]:
        cached = self._promotion_cache.get(program.program_id)
        if cached is None:
            with self._lock:
                base = [
                    self._derive_promotion(program, p)
                    for p in range(self.config.promotions_per_program)
                ]
                cached = tuple(base + self._added.get(program.program_id, []))
                self._promotion_cache[program.program_id] = cached
        return cached

    def _derive_promotion(self, program: Program, p: int) -> Promotion:
        promotion_id = ids.promotion_id(program.global_index, p)
        r = rng(self._seed, Tag.PROMOTION, promotion_id)
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
        first_program = program.index_in_org == 0
        misconfigured_index = 2 if self.config.promotions_per_program >= 3 else 0
        template = PROMOTION_TEMPLATES[r.randrange(len(PROMOTION_TEMPLATES))]
        return self._promotion(
            program,
            p,
            r,
            name=f"{template} {p + 1}",
            description=f"{template} in {program.name}",
            points_offer_type=POINTS_OFFER_TYPES[(p + program.global_index) % 3],
            start_ms=start,
            end_ms=end - 1000,
            holders_share=self.config.holders_share,
            no_benefit_share=self.config.no_benefit_share,
            misconfigured=self.config.misconfigured_promotion
            and first_program
            and p == misconfigured_index,
            added=False,
        )

    def _promotion(
        self,
        program: Program,
        p: int,
        r: Any,
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
        promotion_id = ids.promotion_id(program.global_index, p)
        ref = self._ref_ms
        if modified_ms is None:
            created = min(start_ms, ref) - r.randint(1, 30) * DAY_MS - r.randint(0, 86_399) * 1000
            modified = created + r.randint(0, (ref - created) // 1000) * 1000
        else:
            created = modified = modified_ms
        h1 = mix(self._seed, Tag.UUID, promotion_id)
        h2 = mix(h1, promotion_id)
        identifier = (
            f"{h1 >> 32:08x}-{(h1 >> 16) & 0xFFFF:04x}-4{h1 & 0xFFF:03x}-"
            f"{8 | (h2 >> 62):x}{(h2 >> 48) & 0xFFF:03x}-{promotion_id:012x}"
        )
        activities = tuple(f"activity_{k}" for k in range(1, 2 + p % 3))
        return Promotion(
            promotion_id=promotion_id,
            org_id=program.org_id,
            program_id=program.program_id,
            index=p,
            identifier=identifier,
            name=name,
            description=description,
            points_offer_type=points_offer_type,
            kind=self._kind(start_ms, end_ms),
            start_ms=start_ms,
            end_ms=end_ms,
            created_on_ms=created,
            last_modified_on_ms=modified,
            event_name=EVENT_NAMES[r.randrange(len(EVENT_NAMES))],
            activities=activities,
            reward_series=tuple(str(r.randrange(100_000, 999_999)) for _ in range(2)),
            coupon_series=str(r.randrange(5_000_000, 5_999_999)),
            badge_id=f"{mix(h2, 1):016x}{mix(h2, 2) >> 32:08x}",
            metadata=(("channel", "app", True), ("segment", "all", False)) if p % 3 == 1 else (),
            points_per_customer_limit=20_000.0 if p % 2 == 1 else 0.0,
            times_per_customer_limit=50 if p % 4 == 3 else 0,
            holders_share=holders_share,
            no_benefit_share=no_benefit_share,
            misconfigured=misconfigured,
            added=added,
        )

    def _kind(self, start_ms: int, end_ms: int) -> str:
        if start_ms > self._ref_ms:
            return UPCOMING
        if end_ms < BENEFITS_CUTOFF_MS:
            return ENDED_BEFORE_CUTOFF
        if end_ms < self._ref_ms:
            return EXPIRED
        return ACTIVE

    def add_promotion(
        self,
        org_id: int,
        program_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        points_offer_type: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
        holders_share: float | None = None,
        no_benefit_share: float | None = None,
    ) -> Promotion:
        """Add a promotion to a program, as a brand would while the simulator runs.

        It is modified after every promotion before it (one minute after the latest), so a
        catalogue sorted by `lastModifiedOn` shows it first. Its holders and benefits are
        derived like any other promotion's. Defaults: active from the day before the
        reference date for 90 days, the config's shares.
        """
        program = self._programs.get(program_id)
        if program is None or program.org_id != org_id:
            raise ValueError(f"org {org_id} has no program {program_id}")
        offer = (points_offer_type or "LOYALTY").upper()
        if offer not in POINTS_OFFER_TYPES:
            raise ValueError(f"points_offer_type must be one of {', '.join(POINTS_OFFER_TYPES)}")
        for label, share in (
            ("holders_share", holders_share),
            ("no_benefit_share", no_benefit_share),
        ):
            if share is not None and not 0.0 <= share <= 1.0:
                raise ValueError(f"{label} must be between 0 and 1")
        ref = self._ref_ms
        start = parse_instant_ms(start_date) if start_date else ref - DAY_MS
        end = parse_instant_ms(end_date) if end_date else ref + 90 * DAY_MS - 1000
        if end <= start:
            raise ValueError("end_date must be after start_date")
        with self._lock:
            latest = max(p.last_modified_on_ms for p in self.all_promotions())
            p = self.config.promotions_per_program + len(self._added.get(program_id, []))
            r = rng(self._seed, Tag.PROMOTION, ids.promotion_id(program.global_index, p))
            promotion = self._promotion(
                program,
                p,
                r,
                name=name or f"Added Promotion {p + 1}",
                description=description or f"Added to {program.name}",
                points_offer_type=offer,
                start_ms=start,
                end_ms=end,
                holders_share=self.config.holders_share if holders_share is None else holders_share,
                no_benefit_share=(
                    self.config.no_benefit_share if no_benefit_share is None else no_benefit_share
                ),
                misconfigured=False,
                added=True,
                modified_ms=latest + 60_000,
            )
            self._added.setdefault(program_id, []).append(promotion)
            self._promotion_cache.pop(program_id, None)
            self._held_cached.cache_clear()
        return promotion

    # ----------------------------------------------------------------- holdings, benefits
    def holds(self, customer: Customer, promotion: Promotion) -> bool:
        if promotion.org_id != customer.org_id:
            return False
        if customer.heavy:
            return True
        key = unit(self._seed, Tag.HOLDS, customer.customer_id, promotion.promotion_id)
        return key < promotion.holders_share

    def held_promotions(self, org_id: int, customer_id: int) -> list[Promotion]:
        """The promotions a customer holds, by program then promotion id."""
        customer = self.customer_by_id(customer_id)
        if customer is None or customer.org_id != org_id:
            return []
        wanted = set(self._held_cached(customer_id))
        return [p for p in self.promotions(org_id) if p.promotion_id in wanted]

    def _derive_held_ids(self, customer_id: int) -> tuple[int, ...]:
        customer = self.customer_by_id(customer_id)
        assert customer is not None
        return tuple(
            p.promotion_id for p in self.promotions(customer.org_id) if self.holds(customer, p)
        )

    def benefits(self, customer: Customer, promotion: Promotion) -> Benefits:
        """Everything the customer earned in the promotion, whenever it was issued."""
        if (
            not self.holds(customer, promotion)
            or promotion.misconfigured
            or promotion.kind == UPCOMING
        ):
            return EMPTY_BENEFITS
        cid, pid = customer.customer_id, promotion.promotion_id
        if unit(self._seed, Tag.NO_BENEFIT, cid, pid) < promotion.no_benefit_share:
            return EMPTY_BENEFITS
        low = promotion.start_ms
        if promotion.kind != ENDED_BEFORE_CUTOFF:
            low = max(low, BENEFITS_CUTOFF_MS)
        high = min(promotion.end_ms, self._ref_ms)
        if high <= low:
            return EMPTY_BENEFITS
        r = rng(self._seed, Tag.BENEFITS, cid, pid)

        def when() -> int:
            return r.randrange(low, high) // 1000 * 1000

        program = self._programs[promotion.program_id]
        points: list[PointsGrant] = []
        currencies: list[CurrencyGrant] = []
        incentives: list[Incentive] = []
        for activity in promotion.activities:
            if r.random() < 0.8:
                chosen = r.sample(POINTS_CATEGORIES, r.randint(1, 2))
                for category in sorted(chosen, key=POINTS_CATEGORIES.index):
                    total = float(r.randrange(10, 1000, 10))
                    points.append(PointsGrant(activity, category, total, r.randint(1, 4), when()))
            if r.random() < 0.4:
                name = r.choice(program.currencies)
                kind = r.choice(CURRENCY_TYPES)
                total = float(r.randrange(5, 500, 5))
                currencies.append(
                    CurrencyGrant(activity, name, kind, total, r.randint(1, 4), when())
                )
            if r.random() < 0.4:
                series = r.choice(promotion.reward_series)
                incentives.append(Incentive(activity, "REWARD", series, r.randint(1, 3), when()))
            if r.random() < 0.3:
                coupon = promotion.coupon_series
                incentives.append(Incentive(activity, "COUPONS", coupon, r.randint(1, 3), when()))
            if r.random() < 0.3:
                badge = promotion.badge_id
                incentives.append(Incentive(activity, "BADGES", badge, r.randint(1, 2), when()))
            if r.random() < 0.1:
                tier = str(r.randint(2, program.top_serial))
                incentives.append(Incentive(activity, "UPGRADE_TIER", tier, 1, when()))
        issual = str(1_000_000 + mix(self._seed, cid, pid) % 9_000_000)
        if promotion.points_offer_type == "LOYALTY_EARNING":
            incentives.append(Incentive(None, "ENROL", issual, 1, when()))
        if r.random() < 0.2:
            incentives.append(Incentive(None, "OPTIN", issual, 1, when()))
        if not (points or currencies or any(g.action in ("REWARD", "BADGES") for g in incentives)):
            # Something v2 can show too, so that v2 and v3 agree on 8116.
            activity = promotion.activities[0]
            points.append(PointsGrant(activity, "REGULAR_POINTS", 100.0, 1, when()))
        return Benefits(tuple(points), tuple(currencies), tuple(incentives))

    def reported_benefits(
        self, customer: Customer, promotion: Promotion, activity_id: str | None = None
    ) -> Benefits:
        """What actionSummary reports: benefits since 2025-06-12, optionally of one activity."""
        benefits = self.benefits(customer, promotion).since(BENEFITS_CUTOFF_MS)
        return benefits if activity_id is None else benefits.for_activity(activity_id)

    # ----------------------------------------------------------------- response bodies
    def customer_details_body(
        self, customer: Customer, embed: Collection[str] = ("mlp",)
    ) -> dict[str, Any]:
        """`GET /v2/customers/lookup/customerDetails`; `mlp` in `embed` adds programs."""
        return bodies.customer_details(self, customer, {e.lower() for e in embed})

    def loyalty_details_body(
        self, customer: Customer, program_id: int | None = None
    ) -> dict[str, Any]:
        """`GET /v2/customers/{customerId}/loyaltyDetails`."""
        return bodies.loyalty_details(self, customer, program_id)

    def promotion_data_body(
        self,
        customer: Customer,
        limit: int = 10,
        offset: int = 0,
        status_for_customer: str | None = None,
    ) -> dict[str, Any]:
        """`GET /v2.1/customers/lookup/promotionData` (offset counts promotions)."""
        held = self.held_promotions(customer.org_id, customer.customer_id)
        held = bodies.filter_for_customer(held, status_for_customer)
        return bodies.promotion_data(self, customer, held, limit, offset)

    def action_summary_v2_body(self, customer: Customer, promotion: Promotion) -> dict[str, Any]:
        """`GET /v2/customers/lookup/customerPromotionDetails/actionSummary`."""
        return bodies.action_summary_v2(
            customer, promotion, self.reported_benefits(customer, promotion)
        )

    def action_summary_v3_body(
        self, customer: Customer, promotion: Promotion, activity_id: str | None = None
    ) -> dict[str, Any]:
        """`GET /v3/customers/{customerId}/customerPromotionDetails/actionSummary`."""
        benefits = self.reported_benefits(customer, promotion, activity_id)
        return bodies.action_summary_v3(customer, promotion, benefits)

    def programs_body(self, org_ids: Collection[int] | None = None) -> dict[str, Any]:
        """`GET /v2/organization/programs` for the given orgs (default: home org)."""
        chosen = [self.home_org_id] if org_ids is None else list(org_ids)
        return bodies.programs([p for org_id in chosen for p in self.programs(org_id)])

    def promotion_catalogue_body(
        self,
        org_ids: Collection[int] | None = None,
        *,
        page: int = 0,
        size: int = 10,
        status: Collection[str] | None = None,
        search_text: str | None = None,
        sort_by: str | None = None,
    ) -> dict[str, Any]:
        """`GET /v3/promotions` for the given orgs (default: home org)."""
        chosen = [self.home_org_id] if org_ids is None else list(org_ids)
        promotions = self.all_promotions(chosen)
        if status:
            wanted = {s.upper() for s in status}
            promotions = [p for p in promotions if p.status in wanted]
        if search_text:
            needle = search_text.lower()
            promotions = [p for p in promotions if needle in p.name.lower()]
        if sort_by:
            promotions.sort(key=lambda p: (-p.last_modified_on_ms, -p.promotion_id))
        return bodies.promotion_catalogue(promotions, page, size)

    # ----------------------------------------------------------------- roster
    def roster_rows(self) -> Iterator[RosterRow]:
        """The roster a data team would hand over: one identifier per customer, rotating
        through mobile, email, externalId and cardnumber, then each org's share of
        `unknown_roster_rows` identifiers that name nobody (8015)."""
        unknown = self.config.unknown_roster_rows
        for org in self._orgs:
            o = org.index
            for i in range(self.config.customers_per_org):
                kind = ROSTER_KINDS[i % len(ROSTER_KINDS)]
                if kind == "mobile":
                    value = ids.mobile(o, i)
                elif kind == "email":
                    value = ids.email(o, i, *self._names(o, i))
                elif kind == "externalId":
                    value = ids.external_id(o, i)
                else:
                    value = ids.card_number(o, i)
                yield RosterRow(org.org_id, "INSTORE", kind, value, "")
            for k in range(o, unknown, len(self._orgs)):
                kind = ROSTER_KINDS[k % len(ROSTER_KINDS)]
                value = ids.unknown_identifier(kind.lower(), o, k)
                yield RosterRow(org.org_id, "INSTORE", kind, value, "")

    def roster_csv_chunks(self, rows_per_chunk: int = 2000) -> Iterator[str]:
        """The roster as CSV text (header first), in chunks for streaming."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(RosterRow._fields)
        for n, row in enumerate(self.roster_rows(), start=1):
            writer.writerow(row)
            if n % rows_per_chunk == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    def roster_csv(self) -> str:
        return "".join(self.roster_csv_chunks())


_NO_POINTS: dict[str, float] = {
    "loyalty_points": 0.0,
    "lifetime_points": 0.0,
    "redeemed": 0.0,
    "expired": 0.0,
    "returned": 0.0,
    "adjusted": 0.0,
    "delayed_points": 0.0,
}


def _points(r: Any) -> dict[str, float]:
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


def _membership(
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
    return _with_slab(program, base, serial, expiry)


def _with_slab(program: Program, membership: Membership, serial: int, expiry: str) -> Membership:
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
