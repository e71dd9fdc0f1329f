"""Example bodies from the reference pages in `capillary-api/`, and a shape comparison.

The JSON below is copied from the pages (lists cut to one element of each form; cards
that carry optional parts the page shows only on some cards are left out). A response
"has the shape" of an example when it has the same keys with the same JSON types, lists
compared element by element against the example's first element.
"""

from __future__ import annotations

import json
from typing import Any

LOOKUP = json.loads(
    """
{
    "id": 566881933,
    "profiles": [
        {
            "firstName": "Bubalus",
            "lastName": "bubalis",
            "attribution": {
                "createDate": "2025-02-28T06:15:10Z",
                "createdBy": {"id": 75155282, "code": "neeraj.doc", "name": "neeraj.doc",
                              "type": "TILL", "referenceId": -1, "default": false},
                "modifiedBy": {"id": 75197941, "code": "george.docdemo", "name": "george.docdemo",
                               "type": "TILL", "referenceId": -1, "default": false},
                "modifiedDate": "2026-01-08T10:03:21Z"
            },
            "fields": {},
            "allFields": {},
            "identifiers": [{"type": "mobile", "value": "1234512345"}],
            "commChannels": [
                {"type": "mobile", "value": "1234512345", "primary": true, "verified": false,
                 "meta": {"residence": false, "office": false}, "attributes": {}}
            ],
            "source": "INSTORE",
            "userId": 566881933,
            "accountId": "",
            "conflictingProfileList": [],
            "autoUpdateTime": "2026-01-14T11:32:13Z",
            "identifiersAll": [{"type": "mobile", "value": "1234512345"}]
        }
    ],
    "loyaltyInfo": {
        "loyaltyType": "loyalty",
        "attributionV2": {
            "createDate": "2025-09-23T12:31:51Z",
            "createdBy": {"id": 75152721, "code": "naman_doc", "description": "", "name": "naman",
                          "type": "TILL", "referenceId": -1, "adminType": "GENERAL",
                          "isActive": true, "isOuEnabled": false, "timeZoneId": 191,
                          "currencyId": 95, "languageId": 148, "default": false},
            "modifiedBy": {"id": 75197941, "code": "george.docdemo", "name": "george.docdemo",
                           "type": "TILL", "referenceId": -1, "default": false},
            "modifiedDate": "2026-01-08T10:03:21Z",
            "createdFromSource": "instore"
        },
        "lifetimePurchases": 221350.000,
        "score": 0
    },
    "segments": {},
    "associatedWith": "naman_doc",
    "extendedFields": {"city": "Mumbai", "dob": "1999-08-08T00:00:00Z", "gender": "Male"},
    "loyaltyProgramDetails": [
        {
            "redeemed": 0.0, "expired": 0.0, "returned": 0.0, "adjusted": 0.0,
            "lifetimePoints": 0.0, "loyaltyPoints": 0.0, "cumulativePurchases": 212350.0,
            "loyaltyId": -1, "currentSlab": "Coral", "currentSlabDescription": "Tier 2",
            "nextSlab": "Opal", "nextSlabSerialNumber": 3, "nextSlabDescription": "Tier 3",
            "slabSNo": 2, "slabExpiryDate": "2121-11-10T23:59:59Z", "programId": 983,
            "delayedPoints": 0.0, "delayedReturnedPoints": 0.0, "delayedExpiredPoints": 0.0,
            "totalAvailablePoints": 0.0, "totalReturnedPoints": 0.0,
            "linkedPartnerPrograms": [],
            "programTitle": "DocTransferPoints", "programDescription": "Test Program",
            "programPointsToCurrencyRatio": 1.0,
            "upgradeStrategies": [
                {"upgradeBasedOn": "CURRENT_POINTS", "upgradeThreshold": 3000.0,
                 "customerUpgradeEntityValues": {"currentValue": 0.0, "gapToUpgrade": 3000.0,
                                                 "valueValidUpto": "2121-11-10"}}
            ]
        }
    ],
    "cardDetails": [
        {
            "cardId": 916172, "issuedDate": "2025-09-23T12:10:42Z", "createdDate": "2025-09-23",
            "createdDateTimeISO": "2025-09-23T12:09:51Z", "expiryDays": 1000,
            "seriesName": "card series create new", "customerId": 566881933,
            "maxActiveCards": 5, "customFields": {}, "type": "DIGITAL",
            "cardNumber": "mtest00000000087003", "seriesId": 195, "seriesCode": "mtest",
            "orgId": 100737, "entityId": 75184878,
            "statusInfo": {"reason": "", "createdBy": 916172, "actions": [],
                           "autoUpdateTime": "2025-09-23",
                           "autoUpdateTimeISO": "2025-09-23T12:10:42Z",
                           "createdOn": "2025-09-23T12:10:42Z", "entityId": 916172,
                           "id": 28195154, "isActive": true, "labelId": 494, "label": "ACTIVE",
                           "status": "ACTIVE"},
            "id": 916172, "transactionNotAllowed": true, "activeAndDigital": true,
            "expiryDate": "2028-06-19T00:00:00Z"
        }
    ],
    "warnings": []
}
"""
)

LOYALTY_DETAILS = json.loads(
    """
{
"data": [
{
"redeemed": 0.0, "expired": 0.0, "returned": 0.0, "adjusted": 0.0,
"lifetimePoints": 8500.0, "loyaltyPoints": 8500.0, "cumulativePurchases": 0.0,
"loyaltyId": 649583788, "currentSlab": "Bronze", "nextSlab": "Silver",
"nextSlabSerialNumber": 2, "nextSlabDescription": "Tier 2", "slabSNo": 1,
"slabExpiryDate": "2125-02-28T23:59:59Z", "programId": 973, "delayedPoints": 0.0,
"delayedReturnedPoints": 0.0, "totalAvailablePoints": 8500.0, "totalReturnedPoints": 0.0
}
],
"warnings": [],
"errors": []
}
"""
)

PROMOTION_DATA = json.loads(
    """
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
            "identifier": "ed64e808-dc10-4784-a752-eb7d8d55c87e",
            "description": "Award 50",
            "active": true,
            "eventName": "TransactionAdd",
            "limits": {"maxPointsPerEvent": "0", "pointsPerCustomer": "0",
                       "numberOFTimesPerCustomer": 0, "totalPointsInPromotion": "0"},
            "customerUsage": {"currentPointsPerCustomer": "50.000",
                              "currentNumberOfTimesPerCustomer": 1,
                              "currentTotalPointsInPromotion": "0"},
            "pointsOfferType": "GENERIC",
            "promotionRestriction": {"issualRestrictions": [], "earnRestrictions": [],
                                     "redemptionRestrictions": []},
            "orgId": 50405
        }
    ],
    "warnings": []
}
"""
)
# Documented in the parameter table, absent from the sample.
PROMOTION_DATA_OPTIONAL = frozenset({"promotionMetadata"})

ACTION_SUMMARY_V2 = json.loads(
    """
{
    "orgId": 51135, "programId": 2568, "customerId": 387729100, "promotionId": 2000065,
    "promotionIdentifier": "021a1876-17d9-4d7a-bd2c-e74a65298398",
    "points": [{"pointsCategory": "REGULAR_POINTS", "totalPointsIssued": 600.000,
                "numberOfTimesIssued": 6, "lastIssuedOn": "2025-03-22T17:36:21+05:30"}],
    "alternateCurrencies": [
        {"alternateCurrencyName": "DocCoin",
         "alternateCurrencySubDetails": [{"alternateCurrencyType": "REGULAR",
                                          "totalIssued": 5600.000, "numberOfTimesIssued": 8,
                                          "lastIssuedOn": "2025-03-22T17:36:21+05:30"}]}
    ],
    "rewards": [{"rewardSeriesId": "113336.0", "numberOfTimesIssued": 2,
                 "lastIssuedOn": "2025-03-29T16:30:01+05:30"}],
    "badges": [{"badgeSeriesId": "67ce697296dcfc6386c64f8a", "numberOfTimesIssued": 8,
                "lastIssuedOn": "2025-03-22T17:36:23+05:30"}],
    "warnings": []
}
"""
)

V2_ERROR = json.loads(
    '{"errors": [{"status": false, "code": 8874, "message": "promotion id passed is invalid"}]}'
)

ACTION_SUMMARY_V3 = json.loads(
    """
{
    "orgId": 51948, "programId": 3334, "entityId": 388597285, "promotionId": 1133600978,
    "incentives": [{"activityId": "activity_reward_1", "action": "REWARD",
                    "actionIssuedCount": 1, "actionId": "133423",
                    "lastIssuedOn": 1734533309000}],
    "points": [{"pointsCategory": "REGULAR_POINTS", "totalPointsIssued": "1234.000",
                "numberOfTimesIssued": 1, "lastIssuedOn": 1734533309000}],
    "alternateCurrencies": [{"currencyName": "some_ac", "totalCurrencyIssued": "1234.000",
                             "numberOfTimesIssued": 1, "lastIssuedOn": 1734533309000}],
    "warnings": []
}
"""
)

ACTION_SUMMARY_V3_NO_BENEFITS = json.loads(
    """
{
    "data": {
        "orgId": 51948, "programId": 3334, "entityId": 388597285, "promotionId": 1133600978,
        "incentives": [],
        "warnings": [{"status": false, "code": 8116,
                      "message": "No promotion action summary found for the given promotionId"}]
    },
    "errors": null,
    "warnings": null
}
"""
)

# "Null when the incentive is not associated with a specific activity."
ACTION_SUMMARY_V3_NULLABLE = frozenset({"activityId"})

TOKEN = json.loads('{"data": {"accessToken": "abc", "ttlSeconds": 3600}, "errors": null}')

# Field lists from the README (the pages show no example body for these two).
PROGRAM_FIELDS = {
    "programId": int,
    "programName": str,
    "programDescription": str,
    "pointsToCurrencyRatio": float,
    "pointsExchangeRate": float,
    "membershipPeriodValue": int,
    "tierBased": bool,
}
CATALOGUE_METADATA_FIELDS = {
    "promotionId": int,
    "promoIdentifier": str,
    "status": str,
    "createdOn": int,
    "lastModifiedOn": int,
}


def json_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "float"), (str, "string")):
        if type(value) is kind:
            return name
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {value!r}")


def shape_differences(
    example: Any,
    actual: Any,
    path: str = "$",
    optional: frozenset[str] = frozenset(),
    nullable: frozenset[str] = frozenset(),
) -> list[str]:
    """Where `actual` differs from `example` in keys or JSON types (empty: same shape).

    Keys in `optional` may appear beyond the example's; keys in `nullable` may be null.
    """
    if actual is None and path.rsplit(".", 1)[-1] in nullable:
        return []
    if json_type(example) != json_type(actual):
        return [f"{path}: {json_type(actual)} where the example has {json_type(example)}"]
    problems: list[str] = []
    if isinstance(example, dict) and example:
        missing = sorted(set(example) - set(actual))
        extra = sorted(set(actual) - set(example) - optional)
        problems += [f"{path}.{key}: missing" for key in missing]
        problems += [f"{path}.{key}: not in the example" for key in extra]
        for key in sorted(set(example) & set(actual)):
            problems += shape_differences(
                example[key], actual[key], f"{path}.{key}", optional, nullable
            )
    elif isinstance(example, list) and example:
        for n, item in enumerate(actual):
            problems += shape_differences(example[0], item, f"{path}[{n}]", optional, nullable)
    return problems
