"""The simulated endpoints over real HTTP: shapes of the reference pages, values of the
data set, documented error codes, connected orgs and pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from capillary_simulator.data import SimulatorDataset
from capillary_simulator.records import ENDED_BEFORE_CUTOFF, Customer, Promotion
from loyalty_sync.capillary.codes import CODES
from loyalty_sync_tests.capillary_simulator import reference_examples as examples
from loyalty_sync_tests.capillary_simulator.conftest import CONNECTED_ORG, HOME_ORG, connected

LOOKUP = "/v2/customers/lookup/customerDetails"
PROMOTION_DATA = "/v2.1/customers/lookup/promotionData"
ACTION_SUMMARY_V2 = "/v2/customers/lookup/customerPromotionDetails/actionSummary"


def loyalty_details(customer_id: int | str) -> str:
    return f"/v2/customers/{customer_id}/loyaltyDetails"


def action_summary_v3(customer_id: int | str) -> str:
    return f"/v3/customers/{customer_id}/customerPromotionDetails/actionSummary"


def held_pairs(
    dataset: SimulatorDataset, org_id: int = HOME_ORG
) -> Iterator[tuple[Customer, Promotion]]:
    for customer in dataset.customers(org_id):
        for promotion in dataset.held_promotions(org_id, customer.customer_id):
            yield customer, promotion


def first_pair(
    dataset: SimulatorDataset, wanted: Callable[[Customer, Promotion], bool]
) -> tuple[Customer, Promotion]:
    return next(pair for pair in held_pairs(dataset) if wanted(*pair))


def assert_shape(
    example: Any,
    actual: Any,
    optional: frozenset[str] = frozenset(),
    nullable: frozenset[str] = frozenset(),
) -> None:
    assert examples.shape_differences(example, actual, optional=optional, nullable=nullable) == []


def error_code(response: httpx.Response) -> int:
    return response.json()["errors"][0]["code"]


# ----------------------------------------------------------------------- customer details
def test_lookup_has_the_reference_shape_and_the_data_set_values(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    customer = dataset.customer_by_index(HOME_ORG, 3)
    params = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": customer.mobile}
    response = client.get(LOOKUP, params=params | {"embed": "mlp,points"})
    assert response.status_code == 200
    body = response.json()
    assert_shape(examples.LOOKUP, body)
    assert body == dataset.customer_details_body(customer, embed=("mlp", "points"))
    program_ids = {p["programId"] for p in body["loyaltyProgramDetails"]}
    assert program_ids == {p.program_id for p in dataset.programs(HOME_ORG)}

    plain = client.get(LOOKUP, params=params).json()
    assert "loyaltyProgramDetails" not in plain
    assert plain["id"] == customer.customer_id


@pytest.mark.parametrize(
    ("name", "attribute"),
    [
        ("mobile", "mobile"),
        ("email", "email"),
        ("externalId", "external_id"),
        ("externalID", "external_id"),
        ("cardnumber", "card_number"),
    ],
)
def test_lookup_finds_a_customer_by_each_identifier(
    client: httpx.Client, dataset: SimulatorDataset, name: str, attribute: str
) -> None:
    customer = dataset.customer_by_index(HOME_ORG, 9)
    params = {
        "source": "INSTORE",
        "identifierName": name,
        "identifierValue": getattr(customer, attribute),
    }
    response = client.get(LOOKUP, params=params)
    assert response.status_code == 200
    assert response.json()["id"] == customer.customer_id


def test_lookup_with_several_identifiers_uses_the_primary_one(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    customer = dataset.customer_by_index(HOME_ORG, 5)
    other = dataset.customer_by_index(HOME_ORG, 6)
    params = {
        "source": "INSTORE",
        "identifierName": "email,mobile,externalID",
        "identifierValue": f"{other.email},{customer.mobile},{other.external_id}",
    }
    assert client.get(LOOKUP, params=params).json()["id"] == customer.customer_id
    without_primary = {
        "source": "INSTORE",
        "identifierName": "email,externalId",
        "identifierValue": f"{customer.email},{customer.external_id}",
    }
    assert error_code(client.get(LOOKUP, params=without_primary)) == 8015


def test_lookup_by_wechat_needs_its_source_and_account(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    customer = dataset.customer_by_index(HOME_ORG, 4)
    assert customer.wechat_id
    params = {"source": "WECHAT", "identifierName": "wechat", "identifierValue": customer.wechat_id}
    assert error_code(client.get(LOOKUP, params=params)) == 8015  # account id missing
    found = client.get(LOOKUP, params=params | {"accountId": f"WX{HOME_ORG}"})
    assert found.json()["id"] == customer.customer_id
    assert [p["source"] for p in found.json()["profiles"]] == ["INSTORE", "WECHAT"]


# ----------------------------------------------------------------------- loyalty details
def test_loyalty_details_has_the_reference_shape(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    customer = dataset.customer_by_index(HOME_ORG, 2)
    body = client.get(loyalty_details(customer.customer_id)).json()
    assert_shape(examples.LOYALTY_DETAILS, body)
    assert body == dataset.loyalty_details_body(customer)
    assert len(body["data"]) == len(dataset.programs(HOME_ORG))

    enrolled = next(m for m in customer.memberships if m.enrolled)
    one = client.get(
        loyalty_details(customer.customer_id), params={"programId": enrolled.program_id}
    )
    assert [row["programId"] for row in one.json()["data"]] == [enrolled.program_id]


def test_documented_tier_quirks_are_served(client: httpx.Client, dataset: SimulatorDataset) -> None:
    rows = [
        row
        for customer in dataset.customers(HOME_ORG)
        for row in client.get(loyalty_details(customer.customer_id)).json()["data"]
    ]
    unenrolled = [row for row in rows if row["loyaltyId"] == -1 and row["loyaltyPoints"] == 0.0]
    assert unenrolled and all(row["currentSlab"] and row["slabSNo"] >= 1 for row in unenrolled)
    top = [row for row in rows if row["nextSlabSerialNumber"] == -1]
    assert top and all(row["nextSlab"] == "" and row["nextSlabDescription"] == "" for row in top)


def test_loyalty_details_scoped_to_a_connected_org(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    customer = dataset.customer_by_index(CONNECTED_ORG, 3)
    path = loyalty_details(customer.customer_id)
    assert error_code(client.get(path)) == 8015
    response = client.get(path, headers=connected())
    assert response.json() == dataset.loyalty_details_body(customer)
    both = client.get(path, headers={"DATA-SCOPE": "ALL", "DATA-SCOPE-ORG": str(CONNECTED_ORG)})
    assert both.status_code == 200


# ----------------------------------------------------------------------- promotionData
def test_promotion_data_has_the_reference_shape(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    customer = dataset.customer_by_index(HOME_ORG, 1)
    params = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": customer.mobile}
    body = client.get(PROMOTION_DATA, params=params).json()
    assert_shape(examples.PROMOTION_DATA, body, optional=examples.PROMOTION_DATA_OPTIONAL)
    assert body == dataset.promotion_data_body(customer)
    assert body["pageDetails"]["pageSize"] == 10
    by_id = client.get(
        PROMOTION_DATA,
        params={
            "source": "INSTORE",
            "identifierName": "id",
            "identifierValue": customer.customer_id,
        },
    )
    assert by_id.json() == body


@pytest.mark.parametrize("limit", [100, 7])
def test_promotion_data_pages_cover_every_promotion_once(
    client: httpx.Client, dataset: SimulatorDataset, limit: int
) -> None:
    heavy = dataset.heavy_customers(HOME_ORG)[0]
    expected = [p.promotion_id for p in dataset.held_promotions(HOME_ORG, heavy.customer_id)]
    assert len(expected) > 100
    seen: list[int] = []
    offset = 0
    while True:
        params = {
            "source": "INSTORE",
            "identifierName": "externalId",
            "identifierValue": heavy.external_id,
            "limit": limit,
            "offset": offset,
        }
        body = client.get(PROMOTION_DATA, params=params).json()
        page = body["pageDetails"]
        assert page["totalEntries"] == len(expected)
        assert page["pageCount"] == -(-len(expected) // limit)
        assert page["pageNumber"] == offset // limit
        if not body["promotions"]:
            break
        seen += [p["promotionId"] for p in body["promotions"]]
        offset += limit
    assert seen == expected


def test_promotion_data_across_connected_orgs(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    customer = dataset.customer_by_index(CONNECTED_ORG, 2)
    params = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": customer.mobile}
    assert error_code(client.get(PROMOTION_DATA, params=params)) == 310144
    body = client.get(PROMOTION_DATA, params=params, headers=connected()).json()
    assert body["customerId"] == customer.customer_id
    assert {p["orgId"] for p in body["promotions"]} == {CONNECTED_ORG}


# ----------------------------------------------------------------------- actionSummary
def _v2_params(customer: Customer, promotion: Promotion) -> dict[str, Any]:
    return {
        "source": "INSTORE",
        "identifierName": "mobile",
        "identifierValue": customer.mobile,
        "programId": promotion.program_id,
        "promotionId": promotion.promotion_id,
    }


def test_v2_action_summary_has_the_reference_shape(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    def full(customer: Customer, promotion: Promotion) -> bool:
        body = dataset.action_summary_v2_body(customer, promotion)
        return all(body[k] for k in ("points", "alternateCurrencies", "rewards", "badges"))

    customer, promotion = first_pair(dataset, full)
    body = client.get(ACTION_SUMMARY_V2, params=_v2_params(customer, promotion)).json()
    assert_shape(examples.ACTION_SUMMARY_V2, body)
    assert body == dataset.action_summary_v2_body(customer, promotion)
    by_identifier = _v2_params(customer, promotion)
    del by_identifier["promotionId"]
    by_identifier["promotionIdentifier"] = promotion.identifier
    assert client.get(ACTION_SUMMARY_V2, params=by_identifier).json() == body


def test_v2_action_summary_reports_no_benefits_as_warning_8116(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    customer, promotion = first_pair(dataset, lambda c, p: dataset.reported_benefits(c, p).empty)
    response = client.get(ACTION_SUMMARY_V2, params=_v2_params(customer, promotion))
    assert response.status_code == 200
    body = response.json()
    assert [w["code"] for w in body["warnings"]] == [8116]
    assert body["points"] == body["alternateCurrencies"] == body["rewards"] == body["badges"] == []


def test_v3_action_summary_has_the_reference_shapes(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    def full(customer: Customer, promotion: Promotion) -> bool:
        body = dataset.action_summary_v3_body(customer, promotion)
        return "data" not in body and all(
            body[k] for k in ("incentives", "points", "alternateCurrencies")
        )

    customer, promotion = first_pair(dataset, full)
    params = {"programId": promotion.program_id, "promotionId": promotion.promotion_id}
    body = client.get(action_summary_v3(customer.customer_id), params=params).json()
    assert_shape(examples.ACTION_SUMMARY_V3, body, nullable=examples.ACTION_SUMMARY_V3_NULLABLE)
    assert body == dataset.action_summary_v3_body(customer, promotion)

    empty_customer, empty_promotion = first_pair(
        dataset, lambda c, p: dataset.reported_benefits(c, p).empty
    )
    params = {"programId": empty_promotion.program_id, "promotionId": empty_promotion.promotion_id}
    response = client.get(action_summary_v3(empty_customer.customer_id), params=params)
    assert response.status_code == 200
    assert_shape(examples.ACTION_SUMMARY_V3_NO_BENEFITS, response.json())
    assert response.json()["data"]["warnings"][0]["code"] == 8116


def test_v3_activity_filter_keeps_that_activity_only(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    def several_activities(customer: Customer, promotion: Promotion) -> bool:
        benefits = dataset.reported_benefits(customer, promotion)
        return len({g.activity_id for g in benefits.incentives if g.activity_id}) >= 2

    customer, promotion = first_pair(dataset, several_activities)
    benefits = dataset.reported_benefits(customer, promotion)
    activity = next(g.activity_id for g in benefits.incentives if g.activity_id)
    params = {
        "programId": promotion.program_id,
        "promotionId": promotion.promotion_id,
        "activityId": activity,
    }
    body = client.get(action_summary_v3(customer.customer_id), params=params).json()
    assert body["incentives"]
    assert {i["activityId"] for i in body["incentives"]} == {activity}
    expected_points = sum(g.total for g in benefits.points if g.activity_id == activity)
    assert sum(float(p["totalPointsIssued"]) for p in body["points"]) == expected_points


def test_v2_and_v3_agree_on_every_held_pair(dataset: SimulatorDataset) -> None:
    for customer, promotion in held_pairs(dataset):
        v2 = dataset.action_summary_v2_body(customer, promotion)
        v3 = dataset.action_summary_v3_body(customer, promotion)
        assert bool(v2["warnings"]) == ("data" in v3)
        if "data" in v3:
            continue
        v2_points = {p["pointsCategory"]: p["totalPointsIssued"] for p in v2["points"]}
        v3_points = {p["pointsCategory"]: float(p["totalPointsIssued"]) for p in v3["points"]}
        assert v2_points == v3_points
        rewards: dict[str, int] = {}
        for incentive in v3["incentives"]:
            if incentive["action"] == "REWARD":
                key = f"{incentive['actionId']}.0"
                rewards[key] = rewards.get(key, 0) + incentive["actionIssuedCount"]
        assert {r["rewardSeriesId"]: r["numberOfTimesIssued"] for r in v2["rewards"]} == rewards
        badges = {i["actionId"] for i in v3["incentives"] if i["action"] == "BADGES"}
        assert {b["badgeSeriesId"] for b in v2["badges"]} == badges


def test_misconfigured_and_pre_cutoff_promotions_give_8116(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    misconfigured = [p for p in dataset.misconfigured_promotions() if p.org_id == HOME_ORG]
    assert len(misconfigured) == 1
    holders = [c for c in dataset.customers(HOME_ORG) if dataset.holds(c, misconfigured[0])]
    assert holders
    for customer in holders:
        params = {
            "programId": misconfigured[0].program_id,
            "promotionId": misconfigured[0].promotion_id,
        }
        body = client.get(action_summary_v3(customer.customer_id), params=params).json()
        assert body["data"]["warnings"][0]["code"] == 8116

    # Earned before 2025-06-12: promotionData shows the usage, actionSummary cannot.
    customer, old = first_pair(
        dataset,
        lambda c, p: p.kind == ENDED_BEFORE_CUTOFF and not dataset.benefits(c, p).empty,
    )
    params = {"programId": old.program_id, "promotionId": old.promotion_id}
    body = client.get(action_summary_v3(customer.customer_id), params=params).json()
    assert body["data"]["warnings"][0]["code"] == 8116


# ----------------------------------------------------------------------- programs, catalogue
def test_programs_of_the_home_org_and_connected_orgs(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    body = client.get("/v2/organization/programs").json()
    assert body["warnings"] == [] and body["errors"] == []
    for program in body["data"]:
        for name, kind in examples.PROGRAM_FIELDS.items():
            assert type(program[name]) is kind, name
        assert "partnerProgramType" in program
    assert [p["programId"] for p in body["data"]] == [
        p.program_id for p in dataset.programs(HOME_ORG)
    ]
    other = client.get("/v2/organization/programs", headers=connected()).json()
    assert [p["programId"] for p in other["data"]] == [
        p.program_id for p in dataset.programs(CONNECTED_ORG)
    ]


def test_catalogue_pages_cover_every_promotion_once_newest_first(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    seen: list[dict[str, Any]] = []
    page = 0
    while True:
        params = {"page": page, "size": 25, "sortBy": "lastModifiedOn"}
        body = client.get("/v3/promotions", params=params).json()
        assert body["errors"] is None and body["warnings"] is None
        assert body["page"]["totalElements"] == len(dataset.promotions(HOME_ORG))
        if not body["data"]:
            break
        for item in body["data"]:
            for name, kind in examples.CATALOGUE_METADATA_FIELDS.items():
                assert type(item["metadata"][name]) is kind
            assert {
                "name",
                "description",
                "programId",
                "orgId",
                "startDate",
                "endDate",
                "pointsOfferType",
            } <= set(item)
        seen += body["data"]
        page += 1
    assert page == body["page"]["totalPages"]
    ids = [item["metadata"]["promotionId"] for item in seen]
    assert sorted(ids) == sorted(p.promotion_id for p in dataset.promotions(HOME_ORG))
    modified = [item["metadata"]["lastModifiedOn"] for item in seen]
    assert modified == sorted(modified, reverse=True)
    # The same ids as promotionData serves.
    heavy = dataset.heavy_customers(HOME_ORG)[0]
    held = {p.promotion_id for p in dataset.held_promotions(HOME_ORG, heavy.customer_id)}
    assert held == set(ids)


def test_catalogue_filters(client: httpx.Client, dataset: SimulatorDataset) -> None:
    expired = client.get("/v3/promotions", params={"status": "EXPIRED", "size": 100}).json()
    assert expired["data"] and {i["metadata"]["status"] for i in expired["data"]} == {"EXPIRED"}
    found = client.get("/v3/promotions", params={"searchText": "birthday", "size": 100}).json()
    assert found["data"] and all("Birthday" in i["name"] for i in found["data"])
    other = client.get("/v3/promotions", params={"size": 100}, headers=connected()).json()
    assert {i["orgId"] for i in other["data"]} == {CONNECTED_ORG}


# ----------------------------------------------------------------------- error codes
def _unknown_roster_row(dataset: SimulatorDataset) -> tuple[str, str]:
    rows = list(dataset.roster_rows())
    row = next(
        r for r in rows if dataset.find_customer(r.identifier_name, r.identifier_value) is None
    )
    return row.identifier_name, row.identifier_value


V2_ERRORS: list[
    tuple[str, str, Callable[[SimulatorDataset], tuple[str, dict[str, Any], dict[str, str]]]]
] = []


def _case(code: int, why: str) -> Callable[..., Any]:
    def register(
        build: Callable[[SimulatorDataset], tuple[str, dict[str, Any], dict[str, str]]],
    ) -> Any:
        V2_ERRORS.append((str(code), why, build))
        return build

    return register


def _c(dataset: SimulatorDataset, index: int = 1, org_id: int = HOME_ORG) -> Customer:
    return dataset.customer_by_index(org_id, index)


@_case(8015, "lookup of an unknown roster identifier")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    name, value = _unknown_roster_row(ds)
    return LOOKUP, {"source": "INSTORE", "identifierName": name, "identifierValue": value}, {}


@_case(8015, "lookup of a connected org's customer without headers")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    mobile = _c(ds, 1, CONNECTED_ORG).mobile
    return LOOKUP, {"source": "INSTORE", "identifierName": "mobile", "identifierValue": mobile}, {}


@_case(8015, "loyaltyDetails of an unknown id")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    return loyalty_details(123), {}, {}


@_case(8015, "promotionData of an unknown mobile")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    return (
        PROMOTION_DATA,
        {"source": "INSTORE", "identifierName": "mobile", "identifierValue": "916099999999"},
        {},
    )


@_case(8015, "actionSummary of an unknown customer")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    promotion = ds.promotions(HOME_ORG)[0]
    params = {
        "source": "INSTORE",
        "identifierName": "externalId",
        "identifierValue": "EXT-51135-99999999",
    }
    return (
        ACTION_SUMMARY_V2,
        params | {"programId": promotion.program_id, "promotionId": promotion.promotion_id},
        {},
    )


@_case(8013, "lookup without identifierName")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    return LOOKUP, {"source": "INSTORE", "identifierValue": _c(ds).mobile}, {}


@_case(8013, "lookup by the undocumented name id")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    return (
        LOOKUP,
        {"source": "INSTORE", "identifierName": "id", "identifierValue": str(_c(ds).customer_id)},
        {},
    )


@_case(8013, "promotionData by card number")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    return (
        PROMOTION_DATA,
        {
            "source": "INSTORE",
            "identifierName": "cardnumber",
            "identifierValue": _c(ds).card_number,
        },
        {},
    )


@_case(8013, "actionSummary by email")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    promotion = ds.promotions(HOME_ORG)[0]
    params = {"source": "INSTORE", "identifierName": "email", "identifierValue": _c(ds).email}
    return (
        ACTION_SUMMARY_V2,
        params | {"programId": promotion.program_id, "promotionId": promotion.promotion_id},
        {},
    )


@_case(8003, "lookup without source")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    return LOOKUP, {"identifierName": "mobile", "identifierValue": _c(ds).mobile}, {}


@_case(8003, "promotionData with an unknown source")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    return (
        PROMOTION_DATA,
        {"source": "SHOP", "identifierName": "mobile", "identifierValue": _c(ds).mobile},
        {},
    )


@_case(8089, "loyaltyDetails of a program the customer is not enrolled in")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    customer, program_id = next(
        (c, m.program_id) for c in ds.customers(HOME_ORG) for m in c.memberships if not m.enrolled
    )
    return loyalty_details(customer.customer_id), {"programId": program_id}, {}


@_case(8089, "loyaltyDetails of an unknown program")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    return loyalty_details(_c(ds).customer_id), {"programId": 999}, {}


@_case(1620, "loyaltyDetails of a fleet group the customer is not in")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    return loyalty_details(_c(ds).customer_id), {"fleetGroupId": 12345}, {}


@_case(310144, "promotionData of a connected org's customer without headers")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    mobile = _c(ds, 1, CONNECTED_ORG).mobile
    return (
        PROMOTION_DATA,
        {"source": "INSTORE", "identifierName": "mobile", "identifierValue": mobile},
        {},
    )


@_case(310144, "DATA-SCOPE OTHER without DATA-SCOPE-ORG")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    return (
        PROMOTION_DATA,
        {"source": "INSTORE", "identifierName": "mobile", "identifierValue": _c(ds).mobile},
        {"DATA-SCOPE": "OTHER"},
    )


@_case(310144, "DATA-SCOPE-ORG naming an org that is not connected")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    return (
        LOOKUP,
        {"source": "INSTORE", "identifierName": "mobile", "identifierValue": _c(ds).mobile},
        connected(99999),
    )


@_case(8874, "actionSummary of an unknown promotion id")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    params = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": _c(ds).mobile}
    return ACTION_SUMMARY_V2, params | {"programId": 2568, "promotionId": 42}, {}


@_case(8874, "actionSummary of an unknown promotion identifier")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    params = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": _c(ds).mobile}
    bad = "021a1876-17d9-4d7a-bd2c-e74a65298398"
    return ACTION_SUMMARY_V2, params | {"programId": 2568, "promotionIdentifier": bad}, {}


@_case(8883, "actionSummary without programId")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    params = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": _c(ds).mobile}
    return ACTION_SUMMARY_V2, params | {"promotionId": ds.promotions(HOME_ORG)[0].promotion_id}, {}


@_case(8883, "actionSummary without promotionId or promotionIdentifier")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    params = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": _c(ds).mobile}
    return ACTION_SUMMARY_V2, params | {"programId": 2568}, {}


@_case(8105, "actionSummary of a promotion of another program")
def _(ds: SimulatorDataset) -> tuple[str, dict[str, Any], dict[str, str]]:
    first, second = ds.programs(HOME_ORG)[:2]
    promotion = ds.promotions(HOME_ORG, second.program_id)[0]
    params = {"source": "INSTORE", "identifierName": "mobile", "identifierValue": _c(ds).mobile}
    return (
        ACTION_SUMMARY_V2,
        params | {"programId": first.program_id, "promotionId": promotion.promotion_id},
        {},
    )


@pytest.mark.parametrize(
    ("code", "why", "build"), V2_ERRORS, ids=[f"{c}-{w}" for c, w, _ in V2_ERRORS]
)
def test_v2_error_codes(
    client: httpx.Client,
    dataset: SimulatorDataset,
    code: str,
    why: str,
    build: Callable[[SimulatorDataset], tuple[str, dict[str, Any], dict[str, str]]],
) -> None:
    path, params, headers = build(dataset)
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 400, why
    body = response.json()
    assert_shape(examples.V2_ERROR["errors"], body["errors"])
    assert body["errors"][0]["code"] == int(code)
    assert body["errors"][0]["message"] == CODES[int(code)].message
    assert body["warnings"] == []


def test_fleet_group_of_the_customer_is_accepted(
    client: httpx.Client, dataset: SimulatorDataset
) -> None:
    customer = next(c for c in dataset.customers(HOME_ORG) if c.fleet_group_id)
    params = {"fleetGroupId": customer.fleet_group_id}
    assert client.get(loyalty_details(customer.customer_id), params=params).status_code == 200


@pytest.mark.parametrize("limit", ["101", "-1", "ten"])
def test_promotion_data_limit_out_of_range_is_a_plain_400(
    client: httpx.Client, dataset: SimulatorDataset, limit: str
) -> None:
    params = {
        "source": "INSTORE",
        "identifierName": "mobile",
        "identifierValue": _c(dataset).mobile,
    }
    response = client.get(PROMOTION_DATA, params=params | {"limit": limit})
    assert response.status_code == 400
    assert error_code(response) == 400
    assert "limit" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("code", "status", "what"),
    [
        (400, 400, "missing promotionId"),
        (9001, 404, "unknown program"),
        (9002, 404, "unknown customer"),
        (3013, 404, "promotion of another program"),
    ],
)
def test_v3_error_codes(
    client: httpx.Client, dataset: SimulatorDataset, code: int, status: int, what: str
) -> None:
    customer = _c(dataset)
    first, second = dataset.programs(HOME_ORG)[:2]
    promotion = dataset.promotions(HOME_ORG, first.program_id)[0]
    params: dict[str, Any] = {"programId": first.program_id, "promotionId": promotion.promotion_id}
    customer_id: int = customer.customer_id
    if code == 400:
        del params["promotionId"]
    elif code == 9001:
        params["programId"] = 999
    elif code == 9002:
        customer_id = 5
    else:
        params["programId"] = second.program_id
    response = client.get(action_summary_v3(customer_id), params=params)
    assert response.status_code == status, what
    body = response.json()
    assert body["data"] is None and body["warnings"] is None
    assert body["errors"] == [{"status": False, "code": code, "message": CODES[code].message}]
