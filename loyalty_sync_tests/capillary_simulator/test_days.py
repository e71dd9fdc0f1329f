"""Simulated days: the clock, deterministic churn, and which endpoints each kind moves."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from capillary_simulator import SimulatorDataset
from capillary_simulator.days import CHANGE_KINDS
from capillary_simulator.timefmt import DAY_MS, date_ms
from loyalty_sync_tests.capillary_simulator.conftest import HOME_ORG
from loyalty_sync_tests.capillary_simulator.test_data import all_memberships, anomalies_of
from loyalty_sync_tests.factories import preset, serve_simulator

# No heavy customers, so one promotionData page of 100 shows every held promotion.
DAYS_CONFIG = preset("days")
LOOKUP, PROMOTION_DATA, SUMMARY, CATALOGUE = "lookup", "promotionData", "actionSummary", "catalogue"
CHANGED = {
    "points_earned": {LOOKUP, PROMOTION_DATA, SUMMARY},
    "tier_moved": {LOOKUP},
    "redeemed": {LOOKUP},
    "enrolled": {PROMOTION_DATA},
    "summary_only": {SUMMARY},
    "new_promotion": {CATALOGUE, PROMOTION_DATA, SUMMARY},
}


def bodies(dataset: SimulatorDataset, item: dict[str, Any]) -> dict[str, Any]:
    """Every body a sync reads about the item's customer (actionSummary: the item's pair,
    or every held pair for lookup-only kinds)."""
    customer = dataset.customer_by_id(item["customer_id"])
    assert customer is not None
    if item["promotion_id"] is not None:
        promotions = [dataset.promotion(item["promotion_id"])]
    else:
        promotions = dataset.held_promotions(customer.org_id, customer.customer_id)
    summaries = [
        (dataset.action_summary_v2_body(customer, p), dataset.action_summary_v3_body(customer, p))
        for p in promotions
        if p is not None
    ]
    return {
        LOOKUP: (dataset.customer_details_body(customer), dataset.loyalty_details_body(customer)),
        PROMOTION_DATA: dataset.promotion_data_body(customer, limit=100),
        SUMMARY: summaries,
        CATALOGUE: dataset.promotion_catalogue_body(dataset.org_ids, size=100),
    }


def changed_customers(result: dict[str, Any]) -> set[int]:
    return {i["customer_id"] for kind in result["changes"].values() for i in kind["items"]}


def test_same_seed_and_advances_give_the_same_changes_and_bodies() -> None:
    one, two = SimulatorDataset(DAYS_CONFIG), SimulatorDataset(DAYS_CONFIG)
    results = [ds.advance(3, churn=0.2, new_promotions=1) for ds in (one, two)]
    assert results[0] == results[1]
    assert results[0]["day"] == 3 and results[0]["date"] == "2026-11-04"
    assert set(results[0]["changes"]) == set(CHANGE_KINDS)
    for kind in CHANGE_KINDS:
        for item in results[0]["changes"][kind]["items"][:5]:
            assert bodies(one, item) == bodies(two, item), kind
    assert one.changes() == two.changes() == [results[0]]


def test_each_kind_changes_its_endpoints_and_no_other() -> None:
    before = SimulatorDataset(DAYS_CONFIG)
    after = SimulatorDataset(DAYS_CONFIG)
    churned = after.advance(1, churn=0.5)["changes"]
    fresh = SimulatorDataset(DAYS_CONFIG)
    added = fresh.advance(1, churn=0.0, new_promotions=1, new_promotion_holders=0.3)["changes"]
    cases = [(kind, after, churned[kind]) for kind in CHANGED if kind != "new_promotion"]
    cases.append(("new_promotion", fresh, added["new_promotion"]))
    for kind, advanced, changes in cases:
        assert changes["count"] == len(changes["items"]) > 0, kind
        for item in changes["items"][:25]:
            old, new = bodies(before, item), bodies(advanced, item)
            moved = {endpoint for endpoint in old if old[endpoint] != new[endpoint]}
            assert moved == CHANGED[kind], (kind, item, moved)
            if kind == "new_promotion":  # every holder earned in it: no 8116
                assert all(v3.get("data") is None for _, v3 in new[SUMMARY])


def test_earning_and_redeeming_keep_the_lookup_consistent() -> None:
    before = SimulatorDataset(DAYS_CONFIG)
    after = SimulatorDataset(DAYS_CONFIG)
    changes = after.advance(1, churn=0.6)["changes"]
    for item in changes["points_earned"]["items"]:
        old_customer = before.customer_by_id(item["customer_id"])
        customer = after.customer_by_id(item["customer_id"])
        assert old_customer is not None and customer is not None
        old = before.membership(old_customer, item["program_id"])
        new = after.membership(customer, item["program_id"])
        assert old is not None and new is not None
        earned = new.loyalty_points - old.loyalty_points
        assert earned > 0 and new.lifetime_points - old.lifetime_points == earned
        promotion = after.promotion(item["promotion_id"])
        assert promotion is not None
        usage = sum(g.total for g in after.points_grants(customer, promotion))
        old_usage = sum(g.total for g in before.points_grants(old_customer, promotion))
        assert usage - old_usage == earned
        v3 = after.action_summary_v3_body(customer, promotion)
        assert sum(float(p["totalPointsIssued"]) for p in v3["points"]) == pytest.approx(
            sum(g.total for g in after.reported_benefits(customer, promotion).points)
        )
        newest = max(p["lastIssuedOn"] for p in v3["points"])
        day_end = after.clock.day_start_ms(1)
        assert day_end - 3_600_000 <= newest < day_end <= after.now_ms()
    for item in changes["redeemed"]["items"]:
        old_customer = before.customer_by_id(item["customer_id"])
        customer = after.customer_by_id(item["customer_id"])
        assert old_customer is not None and customer is not None
        old = before.membership(old_customer, item["program_id"])
        new = after.membership(customer, item["program_id"])
        assert old is not None and new is not None
        spent = new.redeemed - old.redeemed
        assert spent > 0 and old.loyalty_points - new.loyalty_points == spent
        assert new.lifetime_points == old.lifetime_points
    # Ordinary customers stay consistent and the planted anomalies stay where listed.
    planted = {(c, p): kind for kind, sites in after.planted_anomalies().items()
               for _, p, c in sites}  # fmt: skip
    reference_day = DAYS_CONFIG.reference_date.isoformat()
    for _, customer, membership in all_memberships(after):
        program = after.program(membership.program_id)
        assert program is not None
        kind = planted.get((customer.customer_id, membership.program_id))
        expected = {kind} if kind else set()
        assert anomalies_of(membership, program, reference_day) == expected


def test_moved_tiers_expire_after_the_new_day() -> None:
    dataset = SimulatorDataset(DAYS_CONFIG)
    result = dataset.advance(2, churn=0.5)
    assert result["changes"]["tier_moved"]["count"] > 0
    for item in result["changes"]["tier_moved"]["items"]:
        customer = dataset.customer_by_id(item["customer_id"])
        assert customer is not None
        membership = dataset.membership(customer, item["program_id"])
        assert membership is not None
        if membership.slab_serial > 1:
            assert membership.slab_expiry[:10] > result["date"]


def test_churn_zero_changes_nothing() -> None:
    before, after = SimulatorDataset(DAYS_CONFIG), SimulatorDataset(DAYS_CONFIG)
    result = after.advance(3, churn=0.0)
    assert all(result["changes"][kind] == {"count": 0, "items": []} for kind in CHANGE_KINDS)
    assert after.day == 3
    for index in range(0, DAYS_CONFIG.customers_per_org, 7):
        customer = after.customer_by_index(HOME_ORG, index)
        item = {"customer_id": customer.customer_id, "promotion_id": None}
        assert bodies(before, item) == bodies(after, item)


def test_share_of_changed_customers_follows_churn() -> None:
    dataset = SimulatorDataset(DAYS_CONFIG)
    result = dataset.advance(1, churn=0.1)
    share = len(changed_customers(result)) / (2 * DAYS_CONFIG.customers_per_org)
    assert 0.06 < share < 0.14
    counts = {kind: result["changes"][kind]["count"] for kind in CHANGE_KINDS}
    assert counts["points_earned"] > counts["summary_only"]


def test_admin_added_promotion_is_dated_at_the_clock() -> None:
    dataset = SimulatorDataset(DAYS_CONFIG)
    dataset.advance(2, churn=0.0)
    program = dataset.programs(HOME_ORG)[0]
    added = dataset.add_promotion(HOME_ORG, program.program_id)
    day_start = date_ms(DAYS_CONFIG.reference_date) + 2 * DAY_MS
    assert day_start <= added.created_on_ms == added.last_modified_on_ms <= dataset.now_ms()


def test_advance_over_http_moves_the_date_header_and_refuses_bad_input() -> None:
    config = DAYS_CONFIG.replace(customers_per_org=20)
    with (
        serve_simulator(config) as sim,
        httpx.Client(base_url=sim.base_url, headers=sim.auth_headers) as client,
    ):
        first = client.get("/v2/organization/programs")
        assert len(first.headers.get_list("date")) == 1
        start = parsedate_to_datetime(first.headers["date"])
        assert start.date() == DAYS_CONFIG.reference_date
        result = sim.advance(2, churn=0.3, new_promotions=1)
        assert result["day"] == 2 and result["changes"]["new_promotion"]["count"] > 0
        later = client.get("/_admin/health")
        assert len(later.headers.get_list("date")) == 1
        moved = parsedate_to_datetime(later.headers["date"]) - start
        assert 2 * 86_400 - 5 < moved.total_seconds() < 2 * 86_400 + 60
        assert client.get("/_admin/counters").json()["day"] == 2
        assert sim.changes() == [result]
        newest = client.get("/v3/promotions", params={"sortBy": "lastModifiedOn"}).json()
        stamp = newest["data"][0]["metadata"]["lastModifiedOn"]
        assert stamp < parsedate_to_datetime(later.headers["date"]).timestamp() * 1000
        for payload in (
            {},
            {"days": 0},
            {"days": "2"},
            {"days": 1, "churn": 1.5},
            {"days": 1, "new_promotions": -1},
            {"days": 1, "colour": "red"},
        ):
            answer = client.post("/_admin/advance", json=payload)
            assert answer.status_code == 400, payload
            assert "\n" not in answer.json()["error"]
        assert client.post("/_admin/advance", content=b"[1]").status_code == 400
        assert sim.changes() == [result]
