"""Response bodies, shaped like the examples on the reference pages.

Field names, their order and their JSON types follow the example bodies in
`capillary-api/`: v3 amounts are strings ("1234.000") and times epoch milliseconds; v2
actionSummary amounts are numbers and times ISO with an offset; promotionData limits and
usage are strings; loyalty figures are floats. Each function is pure: the same records
give the same dict, which the server serialises as is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from capillary_simulator import identifiers as ids
from capillary_simulator.codes import MESSAGES, NO_BENEFITS_WARNING
from capillary_simulator.records import (
    ACTIVE,
    CURRENCY_TYPES,
    EXPIRED,
    POINTS_CATEGORIES,
    Benefits,
    Customer,
    Membership,
    PointsGrant,
    Program,
    Promotion,
)
from capillary_simulator.timefmt import (
    day_text,
    iso_ist,
    iso_millis_z,
    iso_z,
)

if TYPE_CHECKING:
    from capillary_simulator.data import SimulatorDataset

Body = dict[str, Any]


def message(code: int) -> dict[str, Any]:
    """A warning or error entry with the documented message of `code`."""
    return {"status": False, "code": code, "message": MESSAGES[code]}


def amount(value: float) -> str:
    """Amounts sent as strings: "50.000", and "0" for nothing, like the examples."""
    return f"{value:.3f}" if value else "0"


# ----------------------------------------------------------------------- customers
def _till(org_id: int, org_index: int, role: str) -> dict[str, Any]:
    code = f"{role}.{org_id}"
    return {
        "id": 75_150_000 + org_index * 10 + (0 if role == "till" else 1),
        "code": code,
        "name": code,
        "type": "TILL",
        "referenceId": -1,
        "default": False,
    }


def _identifiers(customer: Customer) -> list[dict[str, str]]:
    return [
        {"type": "mobile", "value": customer.mobile},
        {"type": "email", "value": customer.email},
        {"type": "externalId", "value": customer.external_id},
    ]


def _profile(
    customer: Customer, source: str, account_id: str, identifiers: list[dict[str, str]]
) -> Body:
    channels = [
        {
            "type": kind,
            "value": value,
            "primary": True,
            "verified": customer.index % 3 == 0,
            "meta": {"residence": False, "office": False},
            "attributes": {},
        }
        for kind, value in (("mobile", customer.mobile), ("email", customer.email))
        if source == "INSTORE"
    ]
    return {
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "attribution": {
            "createDate": iso_z(customer.created_ms),
            "createdBy": _till(customer.org_id, customer.org_index, "till"),
            "modifiedBy": _till(customer.org_id, customer.org_index, "admin"),
            "modifiedDate": iso_z(customer.modified_ms),
        },
        "fields": {},
        "allFields": {},
        "identifiers": identifiers,
        "commChannels": channels,
        "source": source,
        "userId": customer.customer_id,
        "accountId": account_id,
        "conflictingProfileList": [],
        "autoUpdateTime": iso_z(customer.modified_ms),
        "identifiersAll": [dict(i) for i in identifiers],
    }


_DETAIL_HEAD = (
    "redeemed",
    "expired",
    "returned",
    "adjusted",
    "lifetimePoints",
    "loyaltyPoints",
    "cumulativePurchases",
    "loyaltyId",
    "currentSlab",
)
_DETAIL_TIER = (
    "nextSlab",
    "nextSlabSerialNumber",
    "nextSlabDescription",
    "slabSNo",
    "slabExpiryDate",
    "programId",
    "delayedPoints",
    "delayedReturnedPoints",
)


def _program_detail(membership: Membership, program: Program) -> Body:
    """One `loyaltyProgramDetails` entry: the loyaltyDetails row, in the lookup's key order."""
    row = _loyalty_row(membership)
    detail: Body = {key: row[key] for key in _DETAIL_HEAD}
    detail["currentSlabDescription"] = f"Tier {membership.slab_serial}"
    detail.update({key: row[key] for key in _DETAIL_TIER})
    detail["delayedExpiredPoints"] = membership.delayed_expired_points
    detail["totalAvailablePoints"] = row["totalAvailablePoints"]
    detail["totalReturnedPoints"] = row["totalReturnedPoints"]
    detail["linkedPartnerPrograms"] = []
    detail["programTitle"] = program.name
    detail["programDescription"] = program.description
    detail["programPointsToCurrencyRatio"] = program.points_to_currency_ratio
    detail["upgradeStrategies"] = _upgrade_strategies(membership)
    return detail


def _upgrade_strategies(membership: Membership) -> list[Body]:
    """How far the customer is from the next tier; none at the top tier."""
    if membership.next_slab_serial == -1:
        return []
    current = max(membership.loyalty_points, 0.0)
    return [
        {
            "upgradeBasedOn": "CURRENT_POINTS",
            "upgradeThreshold": membership.upgrade_threshold,
            "customerUpgradeEntityValues": {
                "currentValue": current,
                "gapToUpgrade": max(membership.upgrade_threshold - current, 0.0),
                "valueValidUpto": membership.slab_expiry[:10],
            },
        }
    ]


def _card(customer: Customer) -> Body:
    card_id = ids.card_id(customer.org_index, customer.index)
    issued = customer.created_ms + 3_600_000
    return {
        "cardId": card_id,
        "issuedDate": iso_z(issued),
        "createdDate": day_text(customer.created_ms),
        "createdDateTimeISO": iso_z(customer.created_ms),
        "expiryDays": 1000,
        "seriesName": "card series default",
        "customerId": customer.customer_id,
        "maxActiveCards": 5,
        "customFields": {},
        "type": "DIGITAL",
        "cardNumber": customer.card_number,
        "seriesId": 195,
        "seriesCode": "mtest",
        "orgId": customer.org_id,
        "entityId": _till(customer.org_id, customer.org_index, "till")["id"],
        "statusInfo": {
            "reason": "",
            "createdBy": card_id,
            "actions": [],
            "autoUpdateTime": day_text(issued),
            "autoUpdateTimeISO": iso_z(issued),
            "createdOn": iso_z(issued),
            "entityId": card_id,
            "id": card_id * 3,
            "isActive": True,
            "labelId": 494,
            "label": "ACTIVE",
            "status": "ACTIVE",
        },
        "id": card_id,
        "transactionNotAllowed": False,
        "activeAndDigital": True,
        "expiryDate": iso_z(issued + 1000 * 86_400_000),
    }


def _loyalty_info(customer: Customer, creator: Body) -> Body:
    enrolled = any(m.enrolled for m in customer.memberships)
    return {
        "loyaltyType": "loyalty" if enrolled else "non_loyalty",
        "attributionV2": {
            "createDate": iso_z(customer.created_ms),
            "createdBy": {
                **creator,
                "description": "",
                "adminType": "GENERAL",
                "isActive": True,
                "isOuEnabled": False,
                "timeZoneId": 191,
                "currencyId": 95,
                "languageId": 148,
            },
            "modifiedBy": _till(customer.org_id, customer.org_index, "admin"),
            "modifiedDate": iso_z(customer.modified_ms),
            "createdFromSource": "instore",
        },
        "lifetimePurchases": customer.lifetime_purchases,
        "score": 0,
    }


def customer_details(dataset: SimulatorDataset, customer: Customer, embed: set[str]) -> Body:
    profiles = [_profile(customer, "INSTORE", "", _identifiers(customer))]
    if customer.wechat_id:
        wechat = [{"type": "wechat", "value": customer.wechat_id}]
        profiles.append(
            _profile(customer, "WECHAT", ids.wechat_account(customer.org_index), wechat)
        )
    creator = _till(customer.org_id, customer.org_index, "till")
    body: Body = {
        "id": customer.customer_id,
        "profiles": profiles,
        "loyaltyInfo": _loyalty_info(customer, creator),
        "segments": {},
        "associatedWith": creator["code"],
        "extendedFields": {
            "city": customer.city,
            "dob": customer.birth_date,
            "gender": customer.gender,
        },
    }
    if "mlp" in embed:
        body["loyaltyProgramDetails"] = [
            _program_detail(m, program)
            for m in customer.memberships
            if (program := dataset.program(m.program_id)) is not None
        ]
    if "ignorecarddetails" not in embed:
        body["cardDetails"] = [_card(customer)]
    body["warnings"] = []
    return body


def _loyalty_row(m: Membership) -> Body:
    return {
        "redeemed": m.redeemed,
        "expired": m.expired,
        "returned": m.returned,
        "adjusted": m.adjusted,
        "lifetimePoints": m.lifetime_points,
        "loyaltyPoints": m.loyalty_points,
        "cumulativePurchases": m.cumulative_purchases,
        "loyaltyId": m.loyalty_id,
        "currentSlab": m.slab_name,
        "nextSlab": m.next_slab_name,
        "nextSlabSerialNumber": m.next_slab_serial,
        "nextSlabDescription": m.next_slab_description,
        "slabSNo": m.slab_serial,
        "slabExpiryDate": m.slab_expiry,
        "programId": m.program_id,
        "delayedPoints": m.delayed_points,
        "delayedReturnedPoints": m.delayed_returned_points,
        "totalAvailablePoints": m.total_available_points,
        "totalReturnedPoints": m.total_returned_points,
    }


def loyalty_details(dataset: SimulatorDataset, customer: Customer, program_id: int | None) -> Body:
    rows = [
        _loyalty_row(m)
        for m in customer.memberships
        if program_id is None or m.program_id == program_id
    ]
    return {"data": rows, "warnings": [], "errors": []}


# ----------------------------------------------------------------------- promotions
def filter_for_customer(promotions: list[Promotion], status: str | None) -> list[Promotion]:
    """promotionData's `promotionStatusForCustomer` filter."""
    if not status:
        return promotions
    status = status.upper()
    if status == "EXPIRED":
        return [p for p in promotions if p.status == EXPIRED]
    if status == "AVAILABLE_TO_REDEEM":
        return [p for p in promotions if p.kind == ACTIVE]
    if status == "AVAILABLE_TO_EARN":
        return [
            p
            for p in promotions
            if p.kind == ACTIVE and p.points_offer_type in ("LOYALTY", "LOYALTY_EARNING")
        ]
    if status == "AVAILABLE_TO_ENROL":
        return [
            p for p in promotions if p.kind == ACTIVE and p.points_offer_type == "LOYALTY_EARNING"
        ]
    raise ValueError(f"unknown promotionStatusForCustomer {status!r}")


PROMOTION_STATUSES_FOR_CUSTOMER = (
    "AVAILABLE_TO_ENROL",
    "AVAILABLE_TO_EARN",
    "AVAILABLE_TO_REDEEM",
    "EXPIRED",
)


def _restrictions(promotion: Promotion, times: int, enrolments: int) -> Body:
    """Customer-level limits and usage. Each enrolment after the first (a simulated day's
    `enrolled` change) adds one to the issual usage and, so it stays within, its limit."""
    issual = []
    earn = []
    redemption = []
    if promotion.points_offer_type == "LOYALTY_EARNING":
        issual.append(
            {
                "kpi": "MAX_NUMBER_OF_ISSUALS_PER_CUSTOMER",
                "maxLimit": str(1 + enrolments),
                "currentCustomerUsage": str(1 + enrolments),
                "limitOn": "CUSTOMER",
            }
        )
    if promotion.times_per_customer_limit:
        earn.append(
            {
                "kpi": "MAX_NUMBER_OF_EARNS_PER_CUSTOMER",
                "maxLimit": str(promotion.times_per_customer_limit),
                "currentCustomerUsage": str(times),
                "limitOn": "CUSTOMER",
            }
        )
    if promotion.index % 5 == 2:
        redemption.append(
            {
                "kpi": "MAX_ALLOWED_POINTS_PER_CUSTOMER",
                "maxLimit": "1000",
                "currentCustomerUsage": "0",
                "limitOn": "CUSTOMER",
                "type": "NON_PERIOD_BASED",
            }
        )
    return {
        "issualRestrictions": issual,
        "earnRestrictions": earn,
        "redemptionRestrictions": redemption,
    }


def promotion_entry(
    promotion: Promotion, grants: Sequence[PointsGrant], enrolments: int = 0
) -> Body:
    points = sum(g.total for g in grants)
    times = sum(g.times for g in grants)
    entry: Body = {
        "promotionId": promotion.promotion_id,
        "promotionName": promotion.name,
        "programId": promotion.program_id,
        "startDate": iso_millis_z(promotion.start_ms),
        "endDate": iso_millis_z(promotion.end_ms),
        "identifier": promotion.identifier,
        "description": promotion.description,
        "active": promotion.active,
        "eventName": promotion.event_name,
    }
    if promotion.metadata:
        entry["promotionMetadata"] = [
            {"key": k, "value": v, "brandDefined": b} for k, v, b in promotion.metadata
        ]
    entry["limits"] = {
        "maxPointsPerEvent": "0",
        "pointsPerCustomer": amount(promotion.points_per_customer_limit),
        "numberOFTimesPerCustomer": promotion.times_per_customer_limit,
        "totalPointsInPromotion": "0",
    }
    entry["customerUsage"] = {
        "currentPointsPerCustomer": amount(points),
        "currentNumberOfTimesPerCustomer": times,
        "currentTotalPointsInPromotion": "0",
    }
    entry["pointsOfferType"] = promotion.points_offer_type
    entry["promotionRestriction"] = _restrictions(promotion, times, enrolments)
    entry["orgId"] = promotion.org_id
    return entry


def promotion_data(
    dataset: SimulatorDataset,
    customer: Customer,
    held: Sequence[Promotion],
    limit: int,
    offset: int,
) -> Body:
    page = held[offset : offset + limit] if limit else []
    return {
        "pageDetails": {
            "pageNumber": offset // limit if limit else 0,
            "pageSize": limit,
            "totalEntries": len(held),
            "pageCount": math.ceil(len(held) / limit) if limit else 0,
        },
        "customerId": customer.customer_id,
        "promotions": [
            promotion_entry(
                p, dataset.points_grants(customer, p), dataset.extra_enrolments(customer, p)
            )
            for p in page
        ],
        "warnings": [],
    }


def catalogue_entry(promotion: Promotion) -> Body:
    return {
        "metadata": {
            "promotionId": promotion.promotion_id,
            "promoIdentifier": promotion.identifier,
            "status": promotion.status,
            "createdOn": promotion.created_on_ms,
            "lastModifiedOn": promotion.last_modified_on_ms,
        },
        "name": promotion.name,
        "description": promotion.description,
        "programId": promotion.program_id,
        "orgId": promotion.org_id,
        "startDate": iso_millis_z(promotion.start_ms),
        "endDate": iso_millis_z(promotion.end_ms),
        "pointsOfferType": promotion.points_offer_type,
    }


def promotion_catalogue(promotions: Sequence[Promotion], page: int, size: int) -> Body:
    start = page * size
    return {
        "data": [catalogue_entry(p) for p in promotions[start : start + size]],
        "page": {
            "number": page,
            "size": size,
            "totalElements": len(promotions),
            "totalPages": math.ceil(len(promotions) / size),
        },
        "errors": None,
        "warnings": None,
    }


def programs(chosen: Iterable[Program]) -> Body:
    return {
        "data": [
            {
                "programId": p.program_id,
                "programName": p.name,
                "programDescription": p.description,
                "pointsToCurrencyRatio": p.points_to_currency_ratio,
                "pointsExchangeRate": p.points_exchange_rate,
                "partnerProgramType": None,
                "membershipPeriodValue": p.membership_period_value,
                "tierBased": True,
                "isDefault": p.is_default,
                "orgId": p.org_id,
            }
            for p in chosen
        ],
        "warnings": [],
        "errors": [],
    }


# ----------------------------------------------------------------------- benefits
def _by_key(items: Iterable[Any], key: str) -> dict[Any, list[Any]]:
    groups: dict[Any, list[Any]] = {}
    for item in items:
        groups.setdefault(getattr(item, key), []).append(item)
    return groups


def _category_order(category: str) -> int:
    return POINTS_CATEGORIES.index(category)


def _points_by_category(benefits: Benefits) -> list[tuple[str, list[Any]]]:
    """Point grants grouped by category, in the order the pages list categories."""
    groups = _by_key(benefits.points, "category").items()
    return sorted(groups, key=lambda kv: _category_order(kv[0]))


def _issued(grants: list[Any]) -> Body:
    """How many times a group of incentives was issued, and when last (v2 style)."""
    return {
        "numberOfTimesIssued": sum(g.count for g in grants),
        "lastIssuedOn": iso_ist(max(g.last_ms for g in grants)),
    }


def _v2_currencies(benefits: Benefits) -> list[Body]:
    currencies = []
    for name, grants in sorted(_by_key(benefits.currencies, "name").items()):
        by_type = _by_key(grants, "currency_type")
        currencies.append(
            {
                "alternateCurrencyName": name,
                "alternateCurrencySubDetails": [
                    {
                        "alternateCurrencyType": kind,
                        "totalIssued": float(sum(g.total for g in by_type[kind])),
                        "numberOfTimesIssued": sum(g.times for g in by_type[kind]),
                        "lastIssuedOn": iso_ist(max(g.last_ms for g in by_type[kind])),
                    }
                    for kind in CURRENCY_TYPES
                    if kind in by_type
                ],
            }
        )
    return currencies


def _v2_incentives(benefits: Benefits, action: str, id_key: str, suffix: str) -> list[Body]:
    """Rewards or badges of one action, by series id (`suffix` is how the page prints it)."""
    chosen = _by_key(benefits.incentives, "action").get(action, [])
    return [
        {id_key: f"{series}{suffix}", **_issued(grants)}
        for series, grants in sorted(_by_key(chosen, "action_id").items())
    ]


def action_summary_v2(customer: Customer, promotion: Promotion, benefits: Benefits) -> Body:
    points = [
        {
            "pointsCategory": category,
            "totalPointsIssued": float(sum(g.total for g in grants)),
            "numberOfTimesIssued": sum(g.times for g in grants),
            "lastIssuedOn": iso_ist(max(g.last_ms for g in grants)),
        }
        for category, grants in _points_by_category(benefits)
    ]
    currencies = _v2_currencies(benefits)
    rewards = _v2_incentives(benefits, "REWARD", "rewardSeriesId", ".0")
    badges = _v2_incentives(benefits, "BADGES", "badgeSeriesId", "")
    nothing = not (points or currencies or rewards or badges)
    return {
        "orgId": promotion.org_id,
        "programId": promotion.program_id,
        "customerId": customer.customer_id,
        "promotionId": promotion.promotion_id,
        "promotionIdentifier": promotion.identifier,
        "points": points,
        "alternateCurrencies": currencies,
        "rewards": rewards,
        "badges": badges,
        "warnings": [message(NO_BENEFITS_WARNING)] if nothing else [],
    }


def _v3_benefits(benefits: Benefits) -> Body:
    """The v3 lists: incentives as issued, points and currencies summed, amounts as text."""
    incentives = [
        {
            "activityId": g.activity_id,
            "action": g.action,
            "actionIssuedCount": g.count,
            "actionId": g.action_id,
            "lastIssuedOn": g.last_ms,
        }
        for g in benefits.incentives
    ]
    points = [
        {
            "pointsCategory": category,
            "totalPointsIssued": f"{sum(g.total for g in grants):.3f}",
            "numberOfTimesIssued": sum(g.times for g in grants),
            "lastIssuedOn": max(g.last_ms for g in grants),
        }
        for category, grants in _points_by_category(benefits)
    ]
    currencies = [
        {
            "currencyName": name,
            "totalCurrencyIssued": f"{sum(g.total for g in grants):.3f}",
            "numberOfTimesIssued": sum(g.times for g in grants),
            "lastIssuedOn": max(g.last_ms for g in grants),
        }
        for name, grants in sorted(_by_key(benefits.currencies, "name").items())
    ]
    return {"incentives": incentives, "points": points, "alternateCurrencies": currencies}


def action_summary_v3(customer: Customer, promotion: Promotion, benefits: Benefits) -> Body:
    head = {
        "orgId": promotion.org_id,
        "programId": promotion.program_id,
        "entityId": customer.customer_id,
        "promotionId": promotion.promotion_id,
    }
    if benefits.empty:
        # The page's "no benefits" answer is wrapped, unlike its success answer.
        return {
            "data": {**head, "incentives": [], "warnings": [message(NO_BENEFITS_WARNING)]},
            "errors": None,
            "warnings": None,
        }
    return {**head, **_v3_benefits(benefits), "warnings": []}
