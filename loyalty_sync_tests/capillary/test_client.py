"""The client against the simulator over real HTTP: endpoints, auth, pagination, codes."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import pytest

from capillary_simulator import DEMO_OAUTH_KEY, DEMO_USERNAME, RunningSimulator
from capillary_simulator.data import SimulatorDataset
from loyalty_sync.capillary.auth import Credentials
from loyalty_sync.capillary.errors import (
    AuthenticationError,
    BadRequest,
    CapillaryError,
    ConnectedOrgNotSet,
    CustomerNotFound,
    ProgramNotFound,
    PromotionNotFound,
)
from loyalty_sync_tests.capillary.conftest import (
    BASIC,
    CONNECTED_ORG,
    HOME_ORG,
    OAUTH,
    ClientFactory,
)


def _enrolled_pair(data: SimulatorDataset) -> tuple[Any, Any, Any]:
    """A home-org customer with a held promotion of a program it is enrolled in."""
    for customer in data.customers(HOME_ORG):
        for promotion in data.held_promotions(HOME_ORG, customer.customer_id):
            membership = data.membership(customer, promotion.program_id)
            if membership is not None and membership.enrolled and not promotion.misconfigured:
                return customer, promotion, membership
    raise AssertionError("the test data set has no enrolled holder")


def test_lookup_with_basic_auth(make_client: ClientFactory, api_data: SimulatorDataset) -> None:
    client = make_client(BASIC)
    expected = api_data.customer_by_index(HOME_ORG, 0)
    customer = client.lookup_customer(HOME_ORG, "mobile", expected.mobile)
    assert customer.customer_id == expected.customer_id
    assert {d.program_id for d in customer.loyalty_program_details} == {
        m.program_id for m in expected.memberships
    }
    assert customer.raw["id"] == expected.customer_id
    assert client.stats.snapshot()["calls_by_endpoint"] == {"customer_lookup": 1}


def test_oauth_token_is_fetched_once_and_used(
    make_client: ClientFactory, api_sim: RunningSimulator, api_data: SimulatorDataset
) -> None:
    client = make_client(OAUTH)
    customer = api_data.customer_by_index(HOME_ORG, 1)
    for _ in range(3):
        details = client.loyalty_details(HOME_ORG, customer.customer_id)
    assert details.customer_id == customer.customer_id and details.programs
    counters = api_sim.counters()
    assert counters["requests_by_endpoint"]["/v3/oauth/token/generate"] == 1
    assert counters["credentials"][DEMO_OAUTH_KEY]["requests"] == 4
    assert client.auth_kind == "oauth"


def test_oauth_preferred_when_both_kinds_are_given(
    make_client: ClientFactory, api_sim: RunningSimulator
) -> None:
    client = make_client(dataclasses.replace(OAUTH, username=BASIC.username, password="x" * 8))
    client.programs(HOME_ORG)
    assert set(api_sim.counters()["credentials"]) == {DEMO_OAUTH_KEY}


def test_short_lived_token_is_renewed_before_expiry(
    make_client: ClientFactory, api_sim: RunningSimulator
) -> None:
    api_sim.set_faults(token_ttl_seconds=1)
    client = make_client(OAUTH)
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        client.programs(HOME_ORG)
        time.sleep(0.05)
    counters = api_sim.counters()
    assert counters["requests_by_endpoint"]["/v3/oauth/token/generate"] >= 3
    assert counters["responses_by_code"].get("498", 0) == 0  # renewed before it lapsed
    assert client.stats.snapshot()["token_refreshes"] >= 3


def test_expired_token_answer_498_gets_one_refresh(
    make_client: ClientFactory, api_sim: RunningSimulator
) -> None:
    api_sim.set_faults(token_ttl_seconds=1)
    client = make_client(OAUTH)
    client.programs(HOME_ORG)
    # Make the client believe its token lives on (as after a server-side revocation or a
    # clock jump), so the server is first to notice that it expired.
    auth: Any = client.transport.auth
    auth._token = dataclasses.replace(auth._token, expires_at=math.inf, ttl_seconds=3600.0)
    time.sleep(1.2)
    programs = client.programs(HOME_ORG)
    assert programs.programs
    counters = api_sim.counters()
    assert counters["responses_by_code"]["498"] == 1
    assert counters["requests_by_endpoint"]["/v3/oauth/token/generate"] == 2
    assert client.stats.snapshot()["retries"] == 0  # a refresh, not a retry


def test_connected_org_calls_carry_scope_headers(
    make_client: ClientFactory, api_data: SimulatorDataset
) -> None:
    client = make_client()
    customer = api_data.customer_by_index(CONNECTED_ORG, 2)
    found = client.lookup_customer(CONNECTED_ORG, "mobile", customer.mobile)
    assert found.customer_id == customer.customer_id
    programs = client.programs(CONNECTED_ORG)
    assert [p.program_id for p in programs.programs] == [
        p.program_id for p in api_data.programs(CONNECTED_ORG)
    ]
    # Without the scope headers the same customer is out of reach.
    with pytest.raises(ConnectedOrgNotSet) as caught:
        client.promotion_data(HOME_ORG, "mobile", customer.mobile)
    assert caught.value.code == 310144
    held = client.promotion_data(CONNECTED_ORG, "mobile", customer.mobile)
    assert held.customer_id == customer.customer_id


def test_promotion_data_walks_every_page_once(
    make_client: ClientFactory, api_sim: RunningSimulator, api_data: SimulatorDataset
) -> None:
    client = make_client()
    heavy = api_data.heavy_customers(HOME_ORG)[0]
    expected = [p.promotion_id for p in api_data.held_promotions(HOME_ORG, heavy.customer_id)]
    assert len(expected) > 100
    result = client.promotion_data(HOME_ORG, "id", heavy.customer_id, page_size=7)
    ids = [p.promotion_id for p in result.promotions]
    assert ids == expected and len(set(ids)) == len(ids)
    assert result.pages == math.ceil(len(expected) / 7)
    assert result.customer_id == heavy.customer_id
    calls = api_sim.counters()["requests_by_endpoint"]["/v2.1/customers/lookup/promotionData"]
    assert calls == result.pages


def test_promotion_data_page_of_exact_multiple_stops_on_total(
    make_client: ClientFactory, api_sim: RunningSimulator, api_data: SimulatorDataset
) -> None:
    client = make_client()
    heavy = api_data.heavy_customers(HOME_ORG)[0]
    result = client.promotion_data(HOME_ORG, "mobile", heavy.mobile, page_size=20)
    assert len(result.promotions) == 120 and result.pages == 6  # no seventh, empty page


def test_promotion_data_types_amounts_and_dates(
    make_client: ClientFactory, api_data: SimulatorDataset
) -> None:
    client = make_client()
    customer, _, _ = _enrolled_pair(api_data)
    result = client.promotion_data(HOME_ORG, "id", str(customer.customer_id))
    assert result.promotions
    for promotion in result.promotions:
        assert promotion.start_date is not None and promotion.start_date.tzinfo is not None
        assert promotion.customer_usage is not None


def test_catalogue_pages_and_first_page_for_sensors(
    make_client: ClientFactory, api_data: SimulatorDataset
) -> None:
    client = make_client()
    catalogue = client.promotion_catalogue(HOME_ORG, page_size=17)
    ids = [p.promotion_id for p in catalogue.promotions]
    assert sorted(ids) == sorted(p.promotion_id for p in api_data.all_promotions([HOME_ORG]))
    assert len(set(ids)) == len(ids) and catalogue.complete
    assert catalogue.pages == math.ceil(120 / 17)
    modified = [p.last_modified_on for p in catalogue.promotions]
    assert modified == sorted(modified, reverse=True)  # newest first
    newest = client.promotion_catalogue(HOME_ORG, page_size=10, max_pages=1)
    assert newest.pages == 1 and not newest.complete
    assert [p.promotion_id for p in newest.promotions] == ids[:10]


def test_action_summaries_v3_and_v2(make_client: ClientFactory, api_data: SimulatorDataset) -> None:
    client = make_client()
    customer, promotion, _ = _enrolled_pair(api_data)
    v3 = client.action_summary_v3(
        HOME_ORG, customer.customer_id, promotion.program_id, promotion.promotion_id
    )
    v2 = client.action_summary_v2(
        HOME_ORG,
        "mobile",
        customer.mobile,
        promotion.program_id,
        promotion_id=promotion.promotion_id,
    )
    assert v3.customer_id == v2.customer_id == customer.customer_id
    assert v3.no_benefits == v2.no_benefits
    assert sorted(p.total_points_issued for p in v3.points) == sorted(
        p.total_points_issued for p in v2.points
    )


def test_no_benefits_8116_is_data(make_client: ClientFactory, api_data: SimulatorDataset) -> None:
    client = make_client()
    promotion = next(p for p in api_data.misconfigured_promotions() if p.org_id == HOME_ORG)
    customer = next(
        c
        for c in api_data.customers(HOME_ORG)
        if api_data.holds(c, promotion)
        and (m := api_data.membership(c, promotion.program_id)) is not None
        and m.enrolled
    )
    summary = client.action_summary_v3(
        HOME_ORG, customer.customer_id, promotion.program_id, promotion.promotion_id
    )
    assert summary.no_benefits and summary.warning_codes == [8116]
    v2 = client.action_summary_v2(
        HOME_ORG,
        "id",
        customer.customer_id,
        promotion.program_id,
        promotion_identifier=promotion.identifier,
    )
    assert v2.no_benefits
    assert client.stats.snapshot()["warnings_by_code"] == {"8116": 2}


def _error_cases(data: SimulatorDataset) -> list[tuple[int, type[CapillaryError], Any]]:
    customer, promotion, _ = _enrolled_pair(data)
    first, second = data.programs(HOME_ORG)[:2]
    other_program_promotion = data.promotions(HOME_ORG, second.program_id)[0]
    unenrolled = next(
        (c, m.program_id) for c in data.customers(HOME_ORG) for m in c.memberships if not m.enrolled
    )
    fleet_customer = next(c for c in data.customers(HOME_ORG) if c.fleet_group_id)
    connected = data.customer_by_index(CONNECTED_ORG, 0)
    unknown_mobile = "9160" + "99999999"
    return [
        (8015, CustomerNotFound, lambda c: c.lookup_customer(HOME_ORG, "mobile", unknown_mobile)),
        (8013, BadRequest, lambda c: c.lookup_customer(HOME_ORG, "nickname", "x")),
        (
            8003,
            BadRequest,
            lambda c: c.lookup_customer(HOME_ORG, "mobile", customer.mobile, source="NOWHERE"),
        ),
        (8015, CustomerNotFound, lambda c: c.loyalty_details(HOME_ORG, 5)),
        (
            8089,
            ProgramNotFound,
            lambda c: c.loyalty_details(HOME_ORG, unenrolled[0].customer_id, unenrolled[1]),
        ),
        (
            1620,
            BadRequest,
            lambda c: c.get(
                "loyalty_details",
                f"/v2/customers/{fleet_customer.customer_id}/loyaltyDetails",
                HOME_ORG,
                {"fleetGroupId": 1},
            ),
        ),
        (8013, BadRequest, lambda c: c.promotion_data(HOME_ORG, "nickname", "x")),
        (8015, CustomerNotFound, lambda c: c.promotion_data(HOME_ORG, "mobile", unknown_mobile)),
        (
            8003,
            BadRequest,
            lambda c: c.promotion_data(HOME_ORG, "mobile", customer.mobile, source="NOWHERE"),
        ),
        (
            310144,
            ConnectedOrgNotSet,
            lambda c: c.promotion_data(HOME_ORG, "mobile", connected.mobile),
        ),
        (310144, ConnectedOrgNotSet, lambda c: c.programs(99999)),
        (
            8874,
            PromotionNotFound,
            lambda c: c.action_summary_v2(
                HOME_ORG, "mobile", customer.mobile, first.program_id, promotion_id=42
            ),
        ),
        (
            8015,
            CustomerNotFound,
            lambda c: c.action_summary_v2(
                HOME_ORG,
                "mobile",
                unknown_mobile,
                first.program_id,
                promotion_id=promotion.promotion_id,
            ),
        ),
        (
            8883,
            BadRequest,
            lambda c: c.action_summary_v2(HOME_ORG, "mobile", customer.mobile, first.program_id),
        ),
        (
            8105,
            BadRequest,
            lambda c: c.action_summary_v2(
                HOME_ORG,
                "mobile",
                customer.mobile,
                first.program_id,
                promotion_id=other_program_promotion.promotion_id,
            ),
        ),
        (
            400,
            BadRequest,
            lambda c: c.action_summary_v3(HOME_ORG, customer.customer_id, first.program_id, None),
        ),  # type: ignore[arg-type]
        (
            9001,
            ProgramNotFound,
            lambda c: c.action_summary_v3(
                HOME_ORG, customer.customer_id, 999, promotion.promotion_id
            ),
        ),
        (
            9002,
            CustomerNotFound,
            lambda c: c.action_summary_v3(HOME_ORG, 5, first.program_id, promotion.promotion_id),
        ),
        (
            3013,
            PromotionNotFound,
            lambda c: c.action_summary_v3(
                HOME_ORG,
                customer.customer_id,
                first.program_id,
                other_program_promotion.promotion_id,
            ),
        ),
    ]


def test_every_documented_error_code_raises_its_type(
    make_client: ClientFactory, api_sim: RunningSimulator, api_data: SimulatorDataset
) -> None:
    client = make_client()
    seen: list[int] = []
    for code, error_type, call in _error_cases(api_data):
        with pytest.raises(error_type) as caught:
            call(client)
        assert caught.value.code == code, (code, caught.value)
        assert caught.value.http_status in (400, 404)
        seen.append(code)
    # Answers that cannot change are asked once: no retries at all.
    assert client.stats.snapshot()["retries"] == 0
    assert api_sim.counters()["total_requests"] == len(seen)


def test_bad_credentials_raise_authentication_errors(make_client: ClientFactory) -> None:
    with pytest.raises(AuthenticationError) as basic:
        make_client(Credentials(DEMO_USERNAME, "wrong-password")).programs(HOME_ORG)
    assert basic.value.code == 401 and basic.value.http_status == 401
    with pytest.raises(AuthenticationError) as oauth:
        make_client(Credentials(oauth_key=DEMO_OAUTH_KEY, oauth_secret="wrong")).programs(HOME_ORG)
    assert oauth.value.code == 320001


def test_map_hides_latency_behind_threads(
    make_client: ClientFactory, api_sim: RunningSimulator, api_data: SimulatorDataset
) -> None:
    api_sim.set_faults(latency_ms=200)
    client = make_client(max_concurrency=16)
    customers = list(api_data.customers(HOME_ORG))[:24]
    started = time.monotonic()
    found = client.map(lambda c: client.loyalty_details(HOME_ORG, c.customer_id), customers)
    elapsed = time.monotonic() - started
    assert [d.customer_id for d in found] == [c.customer_id for c in customers]  # type: ignore[union-attr]
    assert elapsed < 24 * 0.2 / 4  # far below one call after another


@pytest.mark.parametrize("prefetch", [0, 15])
def test_imap_keeps_calling_while_the_consumer_writes(
    make_client: ClientFactory, api_data: SimulatorDataset, prefetch: int
) -> None:
    """With prefetch, calls go on while the consumer is busy; without, the window drains."""
    client = make_client(max_concurrency=2)
    ids = [api_data.customer_by_index(HOME_ORG, n).customer_id for n in range(25)]
    called: list[int] = []

    def fetch(customer_id: int) -> int:
        client.loyalty_details(HOME_ORG, customer_id)
        called.append(customer_id)
        return customer_id

    answers = client.imap(fetch, ids, prefetch=prefetch)
    assert next(answers) == ids[0]
    time.sleep(1.0)  # the consumer writes a chunk
    done_while_busy = len(called)
    assert list(answers) == ids[1:]
    assert done_while_busy == (2 * 2 + prefetch)


def test_map_can_return_errors_in_place(
    make_client: ClientFactory, api_data: SimulatorDataset
) -> None:
    client = make_client(max_concurrency=4)
    ids = [
        api_data.customer_by_index(HOME_ORG, 0).customer_id,
        5,
        api_data.customer_by_index(HOME_ORG, 1).customer_id,
    ]
    results = client.map(lambda i: client.loyalty_details(HOME_ORG, i), ids, return_exceptions=True)
    assert isinstance(results[1], CustomerNotFound)
    assert [getattr(r, "customer_id", None) for r in (results[0], results[2])] == [ids[0], ids[2]]
    with pytest.raises(CustomerNotFound):
        client.map(lambda i: client.loyalty_details(HOME_ORG, i), ids)
