"""The simulator's data set: deterministic, derived on request, any size.

How every record is derived
---------------------------
Nothing is stored per customer. A record is a pure function of the config and of the
record's coordinates, drawn from its own random stream keyed by (seed, kind, coordinates)
(`hashing.py`). Deriving a record never depends on what was derived before, so a data set
of 100,000 customers per org starts instantly, uses no memory until asked, and two
simulators with the same config serve the same bytes. The derivations live in
`programs.py`, `customers.py` and `promotions.py`; this module ties them together behind
`SimulatorDataset`, caches what a sync asks for repeatedly, applies admin changes and
builds response bodies (`bodies.py`).

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
- Dates come from `reference_date`; derivation never reads the wall clock. The only state
  is what the admin endpoints add: new programs, new promotions, tier changes and
  simulated days (`advance`, `days.py`: churn kept in `overlays.py`), applied on top.
- The clock (`clock.py`) starts at reference date midnight UTC and moves with simulated
  days; the server sends it as the `Date` header and admin changes are stamped with it.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from datetime import date, timedelta
from functools import lru_cache
from random import Random
from typing import Any, overload

from capillary_simulator import bodies
from capillary_simulator import identifiers as ids
from capillary_simulator.clock import SimulatedClock
from capillary_simulator.config import SimulatorConfig
from capillary_simulator.customers import (
    ANOMALY_KINDS,
    WECHAT_EVERY,
    CustomerFactory,
    with_slab,
)
from capillary_simulator.days import HOUR_MS, DayChurn, check_advance, summarise
from capillary_simulator.overlays import Overlays
from capillary_simulator.programs import build_orgs, build_program
from capillary_simulator.promotions import PromotionFactory
from capillary_simulator.records import (
    ACTIVE,
    EMPTY_BENEFITS,
    POINTS_OFFER_TYPES,
    Benefits,
    Customer,
    Incentive,
    Membership,
    Org,
    PointsGrant,
    Program,
    Promotion,
    RosterRow,
)
from capillary_simulator.timefmt import (
    BENEFITS_CUTOFF_MS,
    DAY_MS,
    date_ms,
    day_text,
    end_of_day_z,
    iso_z,
    parse_instant_ms,
)

__all__ = ["ANOMALY_KINDS", "CustomerSequence", "SimulatorDataset"]

ROSTER_KINDS = ("mobile", "email", "externalId", "cardnumber")
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


def _wechat_matches(o: int, i: int, value: str, source: str, account_id: str | None) -> bool:
    """Whether customer (o, i) has the WeChat profile `value`, looked up where it lives."""
    if i % WECHAT_EVERY != WECHAT_EVERY - 1 or value != ids.wechat_id(o, i):
        return False
    return source == "ALL" or (source == "WECHAT" and account_id == ids.wechat_account(o))


def _checked_offer(
    points_offer_type: str | None, holders_share: float | None, no_benefit_share: float | None
) -> str:
    """The offer type of an added promotion, once it and the shares are known to be valid."""
    offer = (points_offer_type or "LOYALTY").upper()
    if offer not in POINTS_OFFER_TYPES:
        raise ValueError(f"points_offer_type must be one of {', '.join(POINTS_OFFER_TYPES)}")
    for label, share in (("holders_share", holders_share), ("no_benefit_share", no_benefit_share)):
        if share is not None and not 0.0 <= share <= 1.0:
            raise ValueError(f"{label} must be between 0 and 1")
    return offer


class SimulatorDataset:
    """All the data one simulator serves, with response bodies as dicts.

    The `*_body` methods return exactly what the server serialises for a successful call,
    so tests can compute expected answers in Python.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._ref_ms = date_ms(self.config.reference_date)
        self._lock = threading.RLock()
        self._orgs = build_orgs(self.config)
        self._customer_factory = CustomerFactory(self.config, self._orgs)
        self._promotion_factory = PromotionFactory(self.config)
        self._org_by_id = {org.org_id: org for org in self._orgs}
        self._programs = {p.program_id: p for org in self._orgs for p in org.programs}
        self._programs_by_global = {p.global_index: p for p in self._programs.values()}
        self._promotion_cache: dict[int, tuple[Promotion, ...]] = {}
        self._added: dict[int, list[Promotion]] = {}
        self._added_programs: set[int] = set()
        self._tier_overrides: dict[tuple[int, int], tuple[int, str | None, str | None]] = {}
        self._overridden_customers: set[int] = set()
        self._customer_at_cached = lru_cache(maxsize=16384)(self._customer_factory.customer)
        self._held_cached = lru_cache(maxsize=16384)(self._derive_held_ids)
        self._benefits_cached = lru_cache(maxsize=65536)(self._derive_benefits)
        self.clock = SimulatedClock(self.config.reference_date)
        self._overlays = Overlays()
        self._advances: list[dict[str, Any]] = []

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

    def add_program(self, org_id: int, *, name: str | None = None) -> Program:
        """Add a loyalty program to an org, as a brand would while the simulator runs.

        /v2/organization/programs lists it from now on. It starts with no promotions (add
        them with `add_promotion`) and no member: customers' details were derived before
        it existed.
        """
        with self._lock:
            org = self._org_by_id.get(org_id)
            if org is None:
                raise ValueError(f"unknown org {org_id}")
            g = max(self._programs_by_global) + 1
            program = build_program(org.index, org.name, len(org.programs), g, name)
            org = replace(org, programs=(*org.programs, program))
            self._orgs = tuple(org if o.org_id == org_id else o for o in self._orgs)
            self._org_by_id[org_id] = org
            self._programs[program.program_id] = program
            self._programs_by_global[g] = program
            self._added_programs.add(program.program_id)
        return program

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
            found = value == str(ids.customer_id(o, i))
        elif kind == "wechat":
            found = _wechat_matches(o, i, value, source, account_id)
        else:
            found = source in ("INSTORE", "ALL") and self._instore_matches(kind, o, i, value)
        return self._customer_at(o, i) if found else None

    def _instore_matches(self, kind: str, o: int, i: int, value: str) -> bool:
        """Whether the INSTORE profile of customer (o, i) carries `value` as its `kind`."""
        expected = {
            "mobile": lambda: ids.mobile(o, i),
            "email": lambda: ids.email(o, i, *self._customer_factory.names(o, i)),
            "externalid": lambda: ids.external_id(o, i),
            "cardnumber": lambda: ids.card_number(o, i),
        }.get(kind)
        if expected is None:
            return False
        return value.lower() == expected() if kind == "email" else value == expected()

    def is_heavy(self, index: int) -> bool:
        """Heavy customers hold every promotion of their org; spread evenly over indices."""
        return self._customer_factory.is_heavy(index)

    def heavy_customers(self, org_id: int) -> list[Customer]:
        customers = self.customers(org_id)
        return [customers[i] for i in range(len(customers)) if self.is_heavy(i)]

    def _exists(self, position: ids.Position) -> bool:
        return (
            0 <= position.org_index < len(self._orgs)
            and 0 <= position.index < self.config.customers_per_org
        )

    def _customer_at(self, o: int, i: int) -> Customer:
        customer = self._customer_at_cached(o, i)
        if customer.customer_id in self._overridden_customers:
            return self._with_overrides(customer)
        return customer

    # ----------------------------------------------------------------- memberships
    def membership(self, customer: Customer, program_id: int) -> Membership | None:
        for membership in customer.memberships:
            if membership.program_id == program_id:
                return membership
        return None

    def planted_anomalies(self) -> dict[str, list[AnomalySite]]:
        """Every planted tier anomaly by kind: (org_id, program_id, customer_id) sites."""
        result: dict[str, list[AnomalySite]] = {kind: [] for kind in ANOMALY_KINDS}
        for (cid, program_id), kind in self._customer_factory.planted.items():
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

    def _with_overrides(self, customer: Customer) -> Customer:
        memberships = []
        for derived in customer.memberships:
            m = self._overlays.membership(customer.customer_id, derived)
            override = self._tier_overrides.get((customer.customer_id, m.program_id))
            if override is None:
                memberships.append(m)
                continue
            serial, name, expiry = override
            program = self._programs[m.program_id]
            moved = with_slab(program, m, serial, expiry or m.slab_expiry)
            if name:
                moved = replace(moved, slab_name=name)
            memberships.append(moved)
        return replace(customer, memberships=tuple(memberships))

    # ----------------------------------------------------------------- simulated days
    @property
    def day(self) -> int:
        """Simulated days advanced so far (0: the reference date)."""
        return self.clock.day

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def advance(
        self,
        days: int,
        churn: float | None = None,
        new_promotions: int = 0,
        new_promotion_holders: float = 0.2,
    ) -> dict[str, Any]:
        """Move the clock `days` days on, applying each day's churn (`days.py`).

        New promotions are added on the first day. Returns what changed, as
        `POST /_admin/advance` answers it.
        """
        share = self.config.churn if churn is None else churn
        check_advance(days, share, new_promotions, new_promotion_holders)
        changes = []
        with self._lock:
            first = self.clock.day + 1
            for day in range(first, first + days):
                churner = DayChurn(self, day, self.clock.day_start_ms(day))
                changes += churner.churn(float(share))
                if day == first and new_promotions:
                    changes += churner.new_promotions(new_promotions, float(new_promotion_holders))
            self.clock.advance(days)
            result = summarise(self.clock.day, day_text(self.clock.day_start_ms(self.day)), changes)
            self._advances.append(result)
        return result

    def changes(self) -> list[dict[str, Any]]:
        """Every advance so far, oldest first."""
        return list(self._advances)

    def is_planted(self, customer_id: int, program_id: int) -> bool:
        return (customer_id, program_id) in self._customer_factory.planted

    def overlay_points(
        self, customer: Customer, program_id: int, *, earned: float = 0.0, redeemed: float = 0.0
    ) -> None:
        self._overlays.add_points(
            (customer.customer_id, program_id), earned=earned, redeemed=redeemed
        )
        self._overridden_customers.add(customer.customer_id)

    def overlay_grant(
        self,
        customer: Customer,
        promotion: Promotion,
        points: tuple[PointsGrant, ...] = (),
        incentives: tuple[Incentive, ...] = (),
    ) -> None:
        self._overlays.add_grant((customer.customer_id, promotion.promotion_id), points, incentives)

    def overlay_enrolment(self, customer: Customer, promotion: Promotion) -> None:
        pair = (customer.customer_id, promotion.promotion_id)
        self._overlays.enrolments[pair] = self._overlays.enrolments.get(pair, 0) + 1

    def move_tier(
        self, customer: Customer, program: Program, serial: int, stamp_ms: int, r: Random
    ) -> None:
        """Put a customer at tier `serial`; above the base it expires after the day."""
        if serial == 1:
            expiry = date(2125, r.randint(1, 12), r.randint(1, 28))
        else:
            expiry = date.fromisoformat(day_text(stamp_ms)) + timedelta(days=r.randint(30, 720))
        self.set_tier(
            customer.org_id,
            customer.customer_id,
            program.program_id,
            serial,
            slab_expiry_date=expiry.isoformat(),
        )

    def add_day_promotion(
        self, program: Program, day: int, k: int, day_end_ms: int, holders_share: float
    ) -> Promotion:
        """A new LOYALTY promotion of simulated day `day`, active for 90 days from it."""
        start = day_end_ms - DAY_MS
        return self.add_promotion(
            program.org_id,
            program.program_id,
            name=f"Day {day} Promotion {k + 1}",
            description=f"Added on day {day} to {program.name}",
            points_offer_type="LOYALTY",
            start_date=iso_z(start),
            end_date=iso_z(start + 90 * DAY_MS - 1000),
            holders_share=holders_share,
            no_benefit_share=0.0,  # every holder earns, so actionSummary shows the holding
            created_ms=day_end_ms - HOUR_MS,
        )

    def holder_ids(self, promotion: Promotion) -> list[int]:
        """Every holder of `promotion`, by index, without deriving their records."""
        org = self._org_by_id[promotion.org_id]
        factory = self._promotion_factory
        return [
            cid
            for i in range(self.config.customers_per_org)
            if factory.holds(cid := ids.customer_id(org.index, i), self.is_heavy(i), promotion)
        ]

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
                factory = self._promotion_factory
                count = self._base_promotion_count(program.program_id)
                base = [factory.base_promotion(program, p) for p in range(count)]
                cached = tuple(base + self._added.get(program.program_id, []))
                self._promotion_cache[program.program_id] = cached
        return cached

    def _base_promotion_count(self, program_id: int) -> int:
        """Derived promotions of a program: none for one added while running."""
        return 0 if program_id in self._added_programs else self.config.promotions_per_program

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
        created_ms: int | None = None,
    ) -> Promotion:
        """Add a promotion to a program, as a brand would while the simulator runs.

        It is created and modified at the clock's now, and at least one minute after the
        latest promotion, so a catalogue sorted by `lastModifiedOn` shows it first and a
        sync comparing catalogue times with earlier `Date` headers notices it. Its holders
        and benefits are derived like any other promotion's. Defaults: active from the day
        before the reference date for 90 days, the config's shares. `created_ms` (simulated
        days) dates it at the start of a day's last hour instead, where its holders earn.
        """
        program = self._programs.get(program_id)
        if program is None or program.org_id != org_id:
            raise ValueError(f"org {org_id} has no program {program_id}")
        offer = _checked_offer(points_offer_type, holders_share, no_benefit_share)
        start, end = self._new_promotion_dates(start_date, end_date)
        shares = (
            self.config.holders_share if holders_share is None else holders_share,
            self.config.no_benefit_share if no_benefit_share is None else no_benefit_share,
        )
        with self._lock:
            promotion = self._new_promotion(
                program, offer, (start, end), shares, name, description, created_ms
            )
            self._remember_added(promotion)
        return promotion

    def _new_promotion(
        self,
        program: Program,
        offer: str,
        dates: tuple[int, int],
        shares: tuple[float, float],
        name: str | None,
        description: str | None,
        created_ms: int | None,
    ) -> Promotion:
        """The next promotion of `program`, modified after every other (under the lock)."""
        stamp = self._next_stamp(created_ms)
        added = self._added.get(program.program_id, [])
        p = self._base_promotion_count(program.program_id) + len(added)
        promotion = self._promotion_factory.promotion(
            program,
            p,
            self._promotion_factory.rng(program, p),
            name=name or f"Added Promotion {p + 1}",
            description=description or f"Added to {program.name}",
            points_offer_type=offer,
            start_ms=dates[0],
            end_ms=dates[1],
            holders_share=shares[0],
            no_benefit_share=shares[1],
            misconfigured=False,
            added=True,
            modified_ms=stamp,
        )
        if created_ms:  # added on a simulated day: active from that day, earning in it
            window = (stamp, max(created_ms + HOUR_MS, stamp + 1000))
            promotion = replace(promotion, kind=ACTIVE, benefits_window=window)
        return promotion

    def _next_stamp(self, created_ms: int | None) -> int:
        """When an added promotion was last modified: after every other one (under the lock)."""
        latest = max(p.last_modified_on_ms for p in self.all_promotions())
        # A simulated day's promotions are a second apart so that many fit in its hour.
        gap = 1000 if created_ms else 60_000
        return max(latest + gap, created_ms if created_ms else self.clock.now_ms())

    def _new_promotion_dates(self, start_date: str | None, end_date: str | None) -> tuple[int, int]:
        """Start and end of an added promotion: given, or from the day before the reference
        date for 90 days."""
        ref = self._ref_ms
        start = parse_instant_ms(start_date) if start_date else ref - DAY_MS
        end = parse_instant_ms(end_date) if end_date else ref + 90 * DAY_MS - 1000
        if end <= start:
            raise ValueError("end_date must be after start_date")
        return start, end

    def _remember_added(self, promotion: Promotion) -> None:
        """Keep an added promotion and forget what was derived without it (under the lock)."""
        self._added.setdefault(promotion.program_id, []).append(promotion)
        self._promotion_cache.pop(promotion.program_id, None)
        self._held_cached.cache_clear()

    # ----------------------------------------------------------------- holdings, benefits
    def holds(self, customer: Customer, promotion: Promotion) -> bool:
        if promotion.org_id != customer.org_id:
            return False
        return self._promotion_factory.holds(customer.customer_id, customer.heavy, promotion)

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
        if not self.holds(customer, promotion):
            return EMPTY_BENEFITS
        # A sync asks for the same pair twice (promotionData usage, then actionSummary).
        base = self._benefits_cached(customer.customer_id, promotion.promotion_id)
        return self._overlays.benefits(customer.customer_id, promotion.promotion_id, base)

    def points_grants(self, customer: Customer, promotion: Promotion) -> tuple[PointsGrant, ...]:
        """The points part of `benefits` alone (promotionData's usage), cheaper to derive."""
        if not self.holds(customer, promotion):
            return ()
        base = self._promotion_factory.points(customer.customer_id, promotion)
        return self._overlays.points(customer.customer_id, promotion.promotion_id, base)

    def extra_enrolments(self, customer: Customer, promotion: Promotion) -> int:
        """Enrolments in `promotion` since the derived one (simulated `enrolled` days)."""
        return self._overlays.enrolments.get((customer.customer_id, promotion.promotion_id), 0)

    def _derive_benefits(self, customer_id: int, promotion_id: int) -> Benefits:
        promotion = self.promotion(promotion_id)
        assert promotion is not None
        program = self._programs[promotion.program_id]
        return self._promotion_factory.benefits(customer_id, promotion, program)

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
                    value = ids.email(o, i, *self._customer_factory.names(o, i))
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
