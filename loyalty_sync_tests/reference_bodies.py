"""Example bodies from the API reference pages, shared by the tests that parse them.

The pages' examples live in the simulator tests' `reference_examples`; this module names
the parts other tests use, and adds two variants of them: a v3 summary with a badge next
to its reward, and a top-tier program entry carrying a field the models must keep.
"""

from __future__ import annotations

from loyalty_sync_tests.capillary_simulator.reference_examples import (
    ACTION_SUMMARY_V2,
    ACTION_SUMMARY_V3_NO_BENEFITS,
    PROMOTION_DATA,
)

V2_SUCCESS = ACTION_SUMMARY_V2
V3_NO_BENEFITS = ACTION_SUMMARY_V3_NO_BENEFITS
PROMOTION = PROMOTION_DATA["promotions"][0]

V3_SUMMARY = {
    "orgId": 51948,
    "programId": 3334,
    "entityId": 388597285,
    "promotionId": 1133600978,
    "incentives": [
        {
            "activityId": "activity_reward_1",
            "action": "REWARD",
            "actionIssuedCount": 1,
            "actionId": "133423",
            "lastIssuedOn": 1734533309000,
        },
        {
            "activityId": "activity_badge_1",
            "action": "BADGES",
            "actionIssuedCount": 1,
            "actionId": "SomeBadgeId",
            "lastIssuedOn": 1734533309000,
        },
    ],
    "points": [
        {
            "pointsCategory": "REGULAR_POINTS",
            "totalPointsIssued": "1234.000",
            "numberOfTimesIssued": 1,
            "lastIssuedOn": 1734533309000,
        }
    ],
    "alternateCurrencies": [
        {
            "currencyName": "some_ac",
            "totalCurrencyIssued": "1234.000",
            "numberOfTimesIssued": 1,
            "lastIssuedOn": 1734533309000,
        }
    ],
    "warnings": [],
}
TOP_TIER = {
    "redeemed": 35474.0,
    "expired": 173299.0,
    "returned": 0.0,
    "adjusted": 0.0,
    "lifetimePoints": 304600.0,
    "loyaltyPoints": 95827.0,
    "cumulativePurchases": 221350.0,
    "loyaltyId": 651481881,
    "currentSlab": "Diamond",
    "currentSlabDescription": "Tier 8",
    "nextSlab": "",
    "nextSlabSerialNumber": -1,
    "nextSlabDescription": "",
    "slabSNo": 8,
    "slabExpiryDate": "2125-03-26T23:59:59Z",
    "programId": 973,
    "delayedPoints": 0.0,
    "totalAvailablePoints": 95827.0,
    "programPointsToCurrencyRatio": 1.0,
    "newField": "kept",
}
