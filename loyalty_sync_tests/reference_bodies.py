"""Example bodies copied from the API reference pages, shared by the tests that parse them."""

from __future__ import annotations

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
V3_NO_BENEFITS = {
    "data": {
        "orgId": 51948,
        "programId": 3334,
        "entityId": 388597285,
        "promotionId": 1133600978,
        "incentives": [],
        "warnings": [
            {
                "status": False,
                "code": 8116,
                "message": "No promotion action summary found for the given promotionId",
            }
        ],
    },
    "errors": None,
    "warnings": None,
}
V2_SUCCESS = {
    "orgId": 51135,
    "programId": 2568,
    "customerId": 387729100,
    "promotionId": 2000065,
    "promotionIdentifier": "021a1876-17d9-4d7a-bd2c-e74a65298398",
    "points": [
        {
            "pointsCategory": "REGULAR_POINTS",
            "totalPointsIssued": 600.000,
            "numberOfTimesIssued": 6,
            "lastIssuedOn": "2025-03-22T17:36:21+05:30",
        },
    ],
    "alternateCurrencies": [
        {
            "alternateCurrencyName": "DocCoin",
            "alternateCurrencySubDetails": [
                {
                    "alternateCurrencyType": "REGULAR",
                    "totalIssued": 5600.000,
                    "numberOfTimesIssued": 8,
                    "lastIssuedOn": "2025-03-22T17:36:21+05:30",
                }
            ],
        }
    ],
    "rewards": [
        {
            "rewardSeriesId": "113336.0",
            "numberOfTimesIssued": 2,
            "lastIssuedOn": "2025-03-29T16:30:01+05:30",
        }
    ],
    "badges": [
        {
            "badgeSeriesId": "67ce697296dcfc6386c64f8a",
            "numberOfTimesIssued": 8,
            "lastIssuedOn": "2025-03-22T17:36:23+05:30",
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
PROMOTION = {
    "promotionId": 1122938,
    "promotionName": "Award50",
    "programId": 1147,
    "startDate": "2024-08-30T00:00:00.000Z",
    "endDate": "2024-09-29T23:59:59.000Z",
    "identifier": "ed64e808-dc10-4784-a752-eb7d8d55c87e",
    "description": "Award 50",
    "active": True,
    "eventName": "TransactionAdd",
    "limits": {
        "maxPointsPerEvent": "0",
        "pointsPerCustomer": "0",
        "numberOFTimesPerCustomer": 0,
        "totalPointsInPromotion": "0",
    },
    "customerUsage": {
        "currentPointsPerCustomer": "50.000",
        "currentNumberOfTimesPerCustomer": 1,
        "currentTotalPointsInPromotion": "0",
    },
    "pointsOfferType": "GENERIC",
    "promotionRestriction": {
        "issualRestrictions": [],
        "earnRestrictions": [],
        "redemptionRestrictions": [],
    },
    "orgId": 50405,
}
