"""Response models against the shapes and quirks in the API reference pages."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty_sync.capillary.models import (
    BenefitSummaryV2,
    BenefitSummaryV3,
    Customer,
    LoyaltyDetails,
    ProgramList,
    PromotionDataPage,
    parse_amount,
    parse_timestamp,
)
from loyalty_sync_tests.reference_bodies import V2_SUCCESS, V3_NO_BENEFITS, V3_SUMMARY


def _v2_summary(sub_details_key: str) -> dict:
    """The reference page's v2 body, its currency sub-details under `sub_details_key`."""
    body = copy.deepcopy(V2_SUCCESS)
    [currency] = body["alternateCurrencies"]
    currency[sub_details_key] = currency.pop("alternateCurrencySubDetails")
    return body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1734533309000, datetime(2024, 12, 18, 14, 48, 29, tzinfo=UTC)),
        ("1734533309000", datetime(2024, 12, 18, 14, 48, 29, tzinfo=UTC)),
        ("2025-03-22T17:36:21+05:30", datetime(2025, 3, 22, 12, 6, 21, tzinfo=UTC)),
        ("2125-02-28T23:59:59Z", datetime(2125, 2, 28, 23, 59, 59, tzinfo=UTC)),
        ("2024-08-30T00:00:00.000Z", datetime(2024, 8, 30, tzinfo=UTC)),
        ("2024-08-30T00:00:00", datetime(2024, 8, 30, tzinfo=UTC)),
        (None, None),
        ("", None),
    ],
)
def test_timestamps_become_aware_utc(value: object, expected: datetime | None) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1234.000", Decimal("1234.000")), (600.0, Decimal("600.0")), (50, Decimal(50)), ("", None)],
)
def test_amounts_become_decimal(value: object, expected: Decimal | None) -> None:
    assert parse_amount(value) == expected


def test_bad_timestamp_and_amount_are_rejected() -> None:
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")
    with pytest.raises(ValueError):
        parse_amount("lots")


def test_v3_summary_at_top_level() -> None:
    summary = BenefitSummaryV3.model_validate(V3_SUMMARY)
    assert summary.customer_id == 388597285
    assert not summary.no_benefits
    assert summary.points[0].total_points_issued == Decimal("1234.000")
    assert summary.points[0].last_issued_on == datetime(2024, 12, 18, 14, 48, 29, tzinfo=UTC)
    assert summary.incentives[0].action == "REWARD"
    assert summary.incentives[0].action_id == "133423"
    [currency] = summary.currencies()
    assert currency.currency_name == "some_ac"
    assert currency.currency_type == "ALL"
    assert currency.total_issued == Decimal("1234.000")
    assert summary.raw == V3_SUMMARY


def test_v3_summary_wrapped_in_data_with_8116() -> None:
    summary = BenefitSummaryV3.model_validate(V3_NO_BENEFITS)
    assert summary.no_benefits
    assert summary.warning_codes == [8116]
    assert summary.promotion_id == 1133600978
    assert summary.points == [] and summary.incentives == []
    assert summary.raw == V3_NO_BENEFITS


@pytest.mark.parametrize("key", ["alternateCurrencySubDetails", "alternateCurrenciesSubDetails"])
def test_v2_summary_accepts_both_sub_detail_spellings(key: str) -> None:
    summary = BenefitSummaryV2.model_validate(_v2_summary(key))
    [currency] = summary.currencies()
    assert currency.currency_name == "DocCoin"
    assert currency.currency_type == "REGULAR"
    assert currency.total_issued == Decimal("5600.0")
    assert currency.last_issued_on == datetime(2025, 3, 22, 12, 6, 21, tzinfo=UTC)


def test_v2_rewards_and_badges_normalise_to_incentives() -> None:
    summary = BenefitSummaryV2.model_validate(_v2_summary("alternateCurrencySubDetails"))
    incentives = summary.incentives_normalised()
    assert [(i.action, i.action_id, i.action_issued_count) for i in incentives] == [
        ("REWARD", "113336.0", 2),
        ("BADGES", "67ce697296dcfc6386c64f8a", 8),
    ]
    assert summary.points[0].total_points_issued == Decimal("600.0")
    assert incentives[0].raw["rewardSeriesId"] == "113336.0"


def test_v2_summary_8116_warning_is_data() -> None:
    body = {
        "orgId": 1,
        "programId": 2,
        "customerId": 3,
        "promotionId": 4,
        "points": [],
        "warnings": [{"status": False, "code": 8116, "message": "No benefits"}],
    }
    assert BenefitSummaryV2.model_validate(body).no_benefits


def test_promotion_data_page_amounts_and_unknown_fields() -> None:
    page = PromotionDataPage.model_validate(
        {
            "pageDetails": {"pageNumber": 0, "pageSize": 10, "totalEntries": 1, "pageCount": 1},
            "customerId": 347297848,
            "promotions": [
                {
                    "promotionId": 1122938,
                    "promotionName": "Award50",
                    "programId": 1147,
                    "startDate": "2024-08-30T00:00:00.000Z",
                    "endDate": "2024-09-29T23:59:59.000Z",
                    "active": True,
                    "limits": {
                        "maxPointsPerEvent": "0",
                        "pointsPerCustomer": 0,
                        "numberOFTimesPerCustomer": 0,
                        "totalPointsInPromotion": "0",
                    },
                    "customerUsage": {
                        "currentPointsPerCustomer": "50.000",
                        "currentNumberOfTimesPerCustomer": 1,
                    },
                    "promotionRestriction": {
                        "issualRestrictions": [
                            {
                                "kpi": "MAX_NUMBER_OF_ISSUALS_PER_CUSTOMER",
                                "maxLimit": "5",
                                "currentCustomerUsage": 1,
                                "limitOn": "CUSTOMER",
                            }
                        ],
                        "earnRestrictions": [],
                        "redemptionRestrictions": [],
                    },
                    "orgId": 50405,
                    "brandNewField": {"nested": True},
                }
            ],
            "warnings": [],
        }
    )
    [promotion] = page.promotions
    assert page.page_details is not None and page.page_details.total_entries == 1
    assert promotion.org_id == 50405
    assert promotion.customer_usage is not None
    assert promotion.customer_usage.current_points_per_customer == Decimal("50.000")
    assert promotion.limits is not None and promotion.limits.number_of_times_per_customer == 0
    restriction = promotion.promotion_restriction
    assert restriction is not None and restriction.issual_restrictions[0].max_limit == Decimal(5)
    assert promotion.brandNewField == {"nested": True}  # type: ignore[attr-defined]
    assert promotion.raw["brandNewField"] == {"nested": True}
    assert promotion.start_date == datetime(2024, 8, 30, tzinfo=UTC)


def test_loyalty_details_enrolment_and_top_tier() -> None:
    details = LoyaltyDetails.model_validate(
        {
            "data": [
                {
                    "loyaltyId": 649583788,
                    "programId": 973,
                    "slabSNo": 8,
                    "nextSlabSerialNumber": -1,
                    "nextSlab": "",
                    "loyaltyPoints": 8500.0,
                    "slabExpiryDate": "2125-02-28T23:59:59Z",
                },
                {"loyaltyId": -1, "programId": 983, "slabSNo": 1, "nextSlabSerialNumber": 2},
            ],
            "warnings": [],
            "errors": [],
        }
    )
    top, not_enrolled = details.programs
    assert top.enrolled and top.at_top_tier and top.slab_sno == 8
    assert top.loyalty_points == Decimal("8500.0")
    assert not not_enrolled.enrolled and not not_enrolled.at_top_tier


def test_customer_lookup_with_mlp() -> None:
    customer = Customer.model_validate(
        {
            "id": 566881933,
            "profiles": [
                {
                    "firstName": "Bubalus",
                    "identifiers": [{"type": "mobile", "value": 1234512345}],
                    "source": "INSTORE",
                }
            ],
            "loyaltyInfo": {
                "loyaltyType": "loyalty",
                "attributionV2": {"createDate": "2025-09-23T12:31:51+05:30"},
                "lifetimePurchases": 221350.000,
            },
            "loyaltyProgramDetails": [{"programId": 973, "loyaltyId": 651481881}],
            "warnings": [],
        }
    )
    assert customer.customer_id == 566881933
    assert customer.profile is not None
    assert customer.profile.identifiers[0].value == "1234512345"
    assert customer.loyalty_info is not None and customer.loyalty_info.attribution_v2 is not None
    assert customer.loyalty_info.attribution_v2.create_date == datetime(
        2025, 9, 23, 7, 1, 51, tzinfo=UTC
    )
    assert customer.loyalty_program_details[0].program_id == 973


def test_programs_envelope_or_bare_list() -> None:
    item = {"programId": 973, "programName": "Default", "pointsToCurrencyRatio": 1.0}
    enveloped = ProgramList.model_validate({"data": [item], "warnings": [], "errors": []})
    bare = ProgramList.model_validate([item])
    assert enveloped.programs[0].program_id == bare.programs[0].program_id == 973
    assert bare.programs[0].points_to_currency_ratio == Decimal("1.0")
