"""The data set in Python: deterministic, lazy, invertible identifiers, planted anomalies."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest

from capillary_simulator import ANOMALY_KINDS, SimulatorConfig, SimulatorDataset
from capillary_simulator.records import (
    ACTIVE,
    ENDED_BEFORE_CUTOFF,
    EXPIRED,
    UPCOMING,
    Customer,
    Membership,
    Program,
)
from capillary_simulator.timefmt import date_ms
from loyalty_sync_tests.capillary_simulator.conftest import CONNECTED_ORG, HOME_ORG, TEST_CONFIG
from loyalty_sync_tests.factories import preset


def anomalies_of(membership: Membership, program: Program, reference_day: str) -> set[str]:
    """The tier anomalies a membership shows, judged independently of how it was made."""
    found = set()
    m = membership
    if m.loyalty_points < 0:
        found.add("negative_balance")
    if m.total_available_points != m.loyalty_points + m.delayed_points:
        found.add("available_points_mismatch")
    top = m.slab_serial == program.top_serial
    if (top and m.next_slab_serial != -1) or (not top and m.next_slab_serial != m.slab_serial + 1):
        found.add("next_slab_mismatch")
    if not m.enrolled and m.loyalty_points > 0:
        found.add("points_not_enrolled")
    if m.slab_serial > 1 and m.slab_expiry[:10] < reference_day:
        found.add("slab_expired_kept")
    if m.lifetime_points < m.loyalty_points:
        found.add("lifetime_below_loyalty")
    return found


def all_memberships(dataset: SimulatorDataset) -> Iterator[tuple[int, Customer, Membership]]:
    for org_id in dataset.org_ids:
        for customer in dataset.customers(org_id):
            for membership in customer.memberships:
                yield org_id, customer, membership


def test_same_config_same_data_and_another_seed_differs() -> None:
    one, two = SimulatorDataset(TEST_CONFIG), SimulatorDataset(TEST_CONFIG)
    other = SimulatorDataset(TEST_CONFIG.replace(seed=8))
    customer = one.customer_by_index(HOME_ORG, 7)
    assert one.customer_details_body(customer) == two.customer_details_body(
        two.customer_by_index(HOME_ORG, 7)
    )
    assert one.promotion_catalogue_body() == two.promotion_catalogue_body()
    assert one.customer_details_body(customer) != other.customer_details_body(
        other.customer_by_index(HOME_ORG, 7)
    )


def test_every_identifier_leads_back_to_its_customer(dataset: SimulatorDataset) -> None:
    for org_id in dataset.org_ids:
        for customer in dataset.customers(org_id):
            for name, value in (
                ("mobile", customer.mobile),
                ("email", customer.email.upper()),
                ("externalId", customer.external_id),
                ("cardnumber", customer.card_number),
                ("id", str(customer.customer_id)),
            ):
                assert dataset.find_customer(name, value) == customer, (name, value)
            assert dataset.customer_by_id(customer.customer_id) == customer
    assert dataset.find_customer("mobile", "916000000024") is None  # index beyond the org
    third = dataset.customer_by_index(HOME_ORG, 3)
    wrong_name = "x" + third.email  # right org and index, wrong name
    assert dataset.find_customer("email", wrong_name) is None
    assert dataset.find_customer("mobile", "12345") is None


def test_roster_covers_every_customer_and_some_unknown_rows(dataset: SimulatorDataset) -> None:
    from loyalty_sync.warehouse.roster import parse_row

    rows = list(dataset.roster_rows())
    known = [r for r in rows if dataset.find_customer(r.identifier_name, r.identifier_value)]
    unknown = [r for r in rows if r not in known]
    assert len(known) == TEST_CONFIG.customers_per_org * TEST_CONFIG.orgs
    assert len(unknown) == TEST_CONFIG.unknown_roster_rows
    assert {r.identifier_name for r in rows} == {"mobile", "email", "externalId", "cardnumber"}
    found = [dataset.find_customer(r.identifier_name, r.identifier_value) for r in known]
    assert len({c.customer_id for c in found if c}) == len(known)
    for row in rows:  # the roster importer accepts every row
        parse_row({k: str(v) for k, v in row._asdict().items()})
    text = dataset.roster_csv().splitlines()
    assert text[0] == "org_id,source,identifier_name,identifier_value,account_id"
    assert len(text) == len(rows) + 1


def test_anomalies_are_planted_where_listed() -> None:
    dataset = SimulatorDataset(TEST_CONFIG)
    planted = dataset.planted_anomalies()
    assert set(planted) == set(ANOMALY_KINDS)
    reference_day = TEST_CONFIG.reference_date.isoformat()
    sites = set()
    for kind, places in planted.items():
        assert {org for org, _, _ in places} == set(dataset.org_ids), kind
        for org_id, program_id, customer_id in places:
            customer = dataset.customer_by_id(customer_id)
            assert customer is not None and customer.org_id == org_id
            membership = dataset.membership(customer, program_id)
            assert membership is not None
            program = dataset.program(program_id)
            assert program is not None
            assert anomalies_of(membership, program, reference_day) == {kind}
            sites.add((customer_id, program_id))
    for _, customer, membership in all_memberships(dataset):
        program = dataset.program(membership.program_id)
        assert program is not None
        if (customer.customer_id, membership.program_id) not in sites:
            assert anomalies_of(membership, program, reference_day) == set()


def test_no_anomalies_when_switched_off_but_documented_quirks_stay() -> None:
    dataset = SimulatorDataset(TEST_CONFIG.replace(anomalies=False))
    assert all(not sites for sites in dataset.planted_anomalies().values())
    reference_day = TEST_CONFIG.reference_date.isoformat()
    quirks: Counter[str] = Counter()
    for _, _, membership in all_memberships(dataset):
        program = dataset.program(membership.program_id)
        assert program is not None
        assert anomalies_of(membership, program, reference_day) == set()
        if not membership.enrolled:
            quirks["unenrolled"] += 1
            assert membership.loyalty_points == membership.lifetime_points == 0.0
        if membership.next_slab_serial == -1:
            quirks["top"] += 1
            assert membership.next_slab_name == ""
    assert quirks["unenrolled"] and quirks["top"]


def test_promotion_kinds_dates_and_identifiers(dataset: SimulatorDataset) -> None:
    reference = date_ms(TEST_CONFIG.reference_date)
    kinds: Counter[str] = Counter()
    for promotion in dataset.all_promotions():
        kinds[promotion.kind] += 1
        assert promotion.created_on_ms <= promotion.last_modified_on_ms <= reference
        assert dataset.promotion(promotion.promotion_id) == promotion
        assert dataset.promotion_by_identifier(promotion.identifier) == promotion
        assert promotion.start_ms < promotion.end_ms
    assert {ACTIVE, EXPIRED, UPCOMING, ENDED_BEFORE_CUTOFF} <= set(kinds)
    types = {p.points_offer_type for p in dataset.all_promotions()}
    assert types == {"GENERIC", "LOYALTY", "LOYALTY_EARNING"}
    assert dataset.promotion(999) is None


def test_benefits_fall_inside_the_promotion_window(dataset: SimulatorDataset) -> None:
    reference = date_ms(TEST_CONFIG.reference_date)
    actions: Counter[str] = Counter()
    for customer in dataset.customers(HOME_ORG):
        for promotion in dataset.held_promotions(HOME_ORG, customer.customer_id):
            benefits = dataset.benefits(customer, promotion)
            grants = [*benefits.points, *benefits.currencies, *benefits.incentives]
            for grant in grants:
                assert promotion.start_ms <= grant.last_ms <= min(promotion.end_ms, reference)
            actions.update(i.action for i in benefits.incentives)
            # promotionData's usage comes from the same grants.
            assert dataset.points_grants(customer, promotion) == benefits.points
    assert set(actions) == {"REWARD", "COUPONS", "BADGES", "ENROL", "OPTIN", "UPGRADE_TIER"}


def test_heavy_customers_hold_every_promotion_of_their_org(dataset: SimulatorDataset) -> None:
    heavy = dataset.heavy_customers(HOME_ORG)
    assert len(heavy) == int(TEST_CONFIG.customers_per_org * TEST_CONFIG.heavy_customer_share)
    everything = [p.promotion_id for p in dataset.promotions(HOME_ORG)]
    for customer in heavy:
        held = dataset.held_promotions(HOME_ORG, customer.customer_id)
        assert [p.promotion_id for p in held] == everything
    ordinary = dataset.customer_by_index(HOME_ORG, 0)
    assert not ordinary.heavy
    assert 0 < len(dataset.held_promotions(HOME_ORG, ordinary.customer_id)) < len(everything)
    assert dataset.held_promotions(CONNECTED_ORG, ordinary.customer_id) == []


def test_share_of_no_benefit_pairs_follows_the_config() -> None:
    config = SimulatorConfig(
        customers_per_org=200, misconfigured_promotion=False, no_benefit_share=0.3
    )
    dataset = SimulatorDataset(config)
    empty = total = 0
    for customer in dataset.customers(HOME_ORG):
        for promotion in dataset.held_promotions(HOME_ORG, customer.customer_id):
            if promotion.kind in (ACTIVE, EXPIRED):
                total += 1
                empty += dataset.reported_benefits(customer, promotion).empty
    assert 0.22 < empty / total < 0.38


def test_added_promotions_and_tier_changes_apply_on_top() -> None:
    dataset = SimulatorDataset(TEST_CONFIG)
    program = dataset.programs(HOME_ORG)[0]
    newest = max(p.last_modified_on_ms for p in dataset.all_promotions())
    added = dataset.add_promotion(
        HOME_ORG, program.program_id, name="Flash Sale", holders_share=1.0
    )
    # Dated at the clock, and at least a minute after every promotion before it.
    assert newest + 60_000 <= added.last_modified_on_ms <= dataset.now_ms()
    assert added.kind == ACTIVE and added.added
    assert dataset.promotion(added.promotion_id) == added
    customer = dataset.customer_by_index(HOME_ORG, 0)
    assert added in dataset.held_promotions(HOME_ORG, customer.customer_id)
    first = dataset.promotion_catalogue_body(sort_by="lastModifiedOn")["data"][0]
    assert first["metadata"]["promotionId"] == added.promotion_id

    membership = dataset.set_tier(HOME_ORG, customer.customer_id, program.program_id, 3)
    assert membership.slab_serial == 3 and membership.next_slab_serial == 4
    assert (
        dataset.membership(dataset.customer_by_id(customer.customer_id), program.program_id)
        == membership
    )  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        dataset.set_tier(HOME_ORG, customer.customer_id, program.program_id, 9)


def test_a_hundred_thousand_customers_cost_nothing_until_asked() -> None:
    started = time.perf_counter()
    dataset = SimulatorDataset(preset("defaults", customers_per_org=100_000))
    assert time.perf_counter() - started < 0.5
    last = dataset.customer_by_index(HOME_ORG, 99_999)
    assert dataset.find_customer("mobile", last.mobile) == last
    assert len(dataset.customers(CONNECTED_ORG)) == 100_000


def test_config_round_trips_through_json() -> None:
    assert SimulatorConfig.from_json(TEST_CONFIG.to_json()) == TEST_CONFIG
    with pytest.raises(ValueError):
        SimulatorConfig(error_rate=0.7, hang_rate=0.5)
    with pytest.raises(ValueError):
        SimulatorConfig.from_dict({"customers": 3})
