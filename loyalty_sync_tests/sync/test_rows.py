"""The API-to-column mapping, fed the reference pages' own example bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from loyalty_sync.capillary.models import (
    BenefitSummaryV2,
    BenefitSummaryV3,
    CustomerPromotion,
    LoyaltyProgramDetails,
)
from loyalty_sync.sync import rows
from loyalty_sync_tests.reference_bodies import (
    PROMOTION,
    TOP_TIER,
    V2_SUCCESS,
    V3_NO_BENEFITS,
    V3_SUMMARY,
)


def test_v3_summary_rows() -> None:
    summary = BenefitSummaryV3.model_validate(V3_SUMMARY)
    out = rows.summary_rows(51948, 3334, 388597285, 1133600978, summary, "v3")
    assert out.summary["no_benefits"] is False
    assert out.summary["warning_code"] is None
    assert out.points == [
        {
            "org_id": 51948,
            "program_id": 3334,
            "customer_id": 388597285,
            "promotion_id": 1133600978,
            "points_category": "REGULAR_POINTS",
            "total_points_issued": Decimal("1234.000"),
            "number_of_times_issued": 1,
            "last_issued_on": datetime(2024, 12, 18, 14, 48, 29, tzinfo=UTC),
            "raw": V3_SUMMARY["points"][0],
        }
    ]
    assert out.currencies[0]["currency_type"] == rows.ALL_CURRENCY_TYPES
    assert out.currencies[0]["total_issued"] == Decimal("1234.000")
    assert {(i["action"], i["action_id"], i["activity_id"]) for i in out.incentives} == {
        ("REWARD", "133423", "activity_reward_1"),
        ("BADGES", "SomeBadgeId", "activity_badge_1"),
    }


def test_v3_no_benefits_in_the_data_wrapper() -> None:
    summary = BenefitSummaryV3.model_validate(V3_NO_BENEFITS)
    out = rows.summary_rows(51948, 3334, 388597285, 1133600978, summary, "v3")
    assert out.summary["no_benefits"] is True
    assert out.summary["warning_code"] == 8116
    assert out.points == out.currencies == out.incentives == []


def test_v2_summary_rows() -> None:
    summary = BenefitSummaryV2.model_validate(V2_SUCCESS)
    out = rows.summary_rows(51135, 2568, 387729100, 2000065, summary, "v2")
    assert out.summary["promotion_identifier"] == "021a1876-17d9-4d7a-bd2c-e74a65298398"
    assert out.points[0]["total_points_issued"] == Decimal("600.0")
    assert out.points[0]["last_issued_on"] == datetime(2025, 3, 22, 12, 6, 21, tzinfo=UTC)
    assert (out.currencies[0]["currency_name"], out.currencies[0]["currency_type"]) == (
        "DocCoin",
        "REGULAR",
    )
    assert {(i["action"], i["action_id"], i["activity_id"]) for i in out.incentives} == {
        ("REWARD", "113336", ""),
        ("BADGES", "67ce697296dcfc6386c64f8a", ""),
    }


def test_duplicate_categories_are_summed() -> None:
    body = {**V3_SUMMARY, "points": V3_SUMMARY["points"] * 2}
    out = rows.summary_rows(1, 2, 3, 4, BenefitSummaryV3.model_validate(body), "v3")
    assert len(out.points) == 1
    assert out.points[0]["total_points_issued"] == Decimal("2468.000")
    assert out.points[0]["number_of_times_issued"] == 2


def test_program_detail_row_keeps_unknown_fields() -> None:
    details = LoyaltyProgramDetails.model_validate(TOP_TIER)
    row = rows.program_detail_row(100737, 566881933, details)
    assert row["slab_sno"] == 8
    assert row["next_slab_serial_number"] == -1
    assert row["loyalty_points"] == Decimal("95827.0")
    assert row["slab_expiry_date"] == datetime(2125, 3, 26, 23, 59, 59, tzinfo=UTC)
    assert row["raw"]["newField"] == "kept"


def test_promotion_and_usage_split_between_tables() -> None:
    promotion = CustomerPromotion.model_validate(PROMOTION)
    promotion_row = rows.promotion_row(50405, promotion, None)
    usage_row = rows.customer_promotion_row(50405, 347297848, promotion)
    assert "customerUsage" not in promotion_row["raw"]
    assert promotion_row["number_of_times_per_customer"] == Decimal(0)
    assert promotion_row["end_date"] == datetime(2024, 9, 29, 23, 59, 59, tzinfo=UTC)
    assert usage_row["current_points_per_customer"] == Decimal("50.000")
    assert usage_row["raw"] == {
        "customerUsage": PROMOTION["customerUsage"],
        "promotionRestriction": PROMOTION["promotionRestriction"],
    }
