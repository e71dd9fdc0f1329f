"""API objects -> warehouse rows: the one place Capillary fields are mapped to columns.

Each function takes a typed response model (parsing of timestamps, amounts and id types
already done in `capillary.models`) and returns dicts keyed by the column names of
`warehouse.tables`. `raw` keeps the object as served, minus the parts another table owns,
so no field is lost and no row flips because of data that belongs elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loyalty_sync.capillary.models import (
    BenefitSummary,
    BenefitSummaryV2,
    CataloguePromotion,
    Customer,
    CustomerPromotion,
    LoyaltyProgramDetails,
    parse_timestamp,
)

Row = dict[str, Any]

# Parts of a promotionData promotion that describe the customer, not the promotion.
CUSTOMER_PROMOTION_KEYS = ("customerUsage", "promotionRestriction")
# v3 incentives may have no activity; the key column holds '' then.
NO_ACTIVITY = ""
# v3 alternate currencies are totals per currency, with no REGULAR/PROMISED split.
ALL_CURRENCY_TYPES = "ALL"


_FLOAT_ID = re.compile(r"^(\d+)\.0+$")


def _action_id(value: str | None) -> str:
    """v2 prints reward series ids as floats (`"113336.0"`), v3 as integers: keep one form."""
    if value is None:
        return ""
    match = _FLOAT_ID.match(value)
    return match.group(1) if match else value


def _without(raw: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in keys}


def _identifier(customer: Customer, kind: str) -> str | None:
    for profile in customer.profiles:
        for identifier in profile.identifiers:
            if (identifier.type or "").lower() == kind.lower():
                return identifier.value
    return None


def _nested_time(raw: dict[str, Any], *path: str) -> datetime | None:
    node: Any = raw
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return parse_timestamp(node) if isinstance(node, str | int | float) else None


def customer_row(org_id: int, customer: Customer) -> Row:
    profile = customer.profiles[0] if customer.profiles else None
    profile_raw = profile.raw if profile else {}
    loyalty = customer.loyalty_info
    loyalty_raw = loyalty.raw if loyalty else {}
    return {
        "org_id": org_id,
        "customer_id": customer.customer_id,
        "first_name": profile.first_name if profile else None,
        "last_name": profile.last_name if profile else None,
        "source": profile.source if profile else None,
        "account_id": (profile.account_id or None) if profile else None,
        "mobile": _identifier(customer, "mobile"),
        "email": _identifier(customer, "email"),
        "external_id": _identifier(customer, "externalId"),
        "card_number": _identifier(customer, "cardnumber"),
        "created_date": _nested_time(profile_raw, "attribution", "createDate"),
        "modified_date": _nested_time(profile_raw, "attribution", "modifiedDate"),
        "loyalty_type": loyalty.loyalty_type if loyalty else None,
        "lifetime_purchases": loyalty.lifetime_purchases if loyalty else None,
        "loyalty_create_date": _nested_time(loyalty_raw, "attributionV2", "createDate"),
        "associated_with": customer.raw.get("associatedWith"),
        "extended_fields": customer.extended_fields or None,
        "raw": _without(customer.raw, "loyaltyProgramDetails", "warnings"),
    }


def customer_row_from_id(org_id: int, customer_id: int) -> Row:
    """A roster entry given by customer id: loyaltyDetails has no profile to map."""
    return {"org_id": org_id, "customer_id": customer_id, "raw": {"id": customer_id}}


def program_detail_row(org_id: int, customer_id: int, details: LoyaltyProgramDetails) -> Row:
    return {
        "org_id": org_id,
        "program_id": details.program_id,
        "customer_id": customer_id,
        "loyalty_id": details.loyalty_id,
        "current_slab": details.current_slab,
        "current_slab_description": details.current_slab_description,
        "slab_sno": details.slab_sno,
        "slab_expiry_date": details.slab_expiry_date,
        "next_slab": details.next_slab,
        "next_slab_serial_number": details.next_slab_serial_number,
        "next_slab_description": details.next_slab_description,
        "redeemed": details.redeemed,
        "expired": details.expired,
        "returned": details.returned,
        "adjusted": details.adjusted,
        "lifetime_points": details.lifetime_points,
        "loyalty_points": details.loyalty_points,
        "cumulative_purchases": details.cumulative_purchases,
        "delayed_points": details.delayed_points,
        "delayed_returned_points": details.delayed_returned_points,
        "delayed_expired_points": details.delayed_expired_points,
        "total_available_points": details.total_available_points,
        "total_returned_points": details.total_returned_points,
        "program_title": details.program_title,
        "program_description": details.program_description,
        "program_points_to_currency_ratio": details.raw.get("programPointsToCurrencyRatio"),
        "raw": details.raw,
    }


def promotion_row(
    org_id: int, promotion: CustomerPromotion, catalogue: CataloguePromotion | None
) -> Row:
    limits = promotion.limits
    meta = catalogue.metadata if catalogue else None
    return {
        "org_id": org_id,
        "program_id": promotion.program_id,
        "promotion_id": promotion.promotion_id,
        "promotion_name": promotion.promotion_name,
        "identifier": promotion.identifier,
        "description": promotion.description,
        "start_date": promotion.start_date,
        "end_date": promotion.end_date,
        "active": promotion.active,
        "event_name": promotion.event_name,
        "points_offer_type": promotion.points_offer_type,
        "max_points_per_event": limits.max_points_per_event if limits else None,
        "points_per_customer": limits.points_per_customer if limits else None,
        "number_of_times_per_customer": limits.number_of_times_per_customer if limits else None,
        "total_points_in_promotion": limits.total_points_in_promotion if limits else None,
        "promotion_metadata": promotion.raw.get("promotionMetadata"),
        "status": meta.status if meta else None,
        "created_on": meta.created_on if meta else None,
        "last_modified_on": meta.last_modified_on if meta else None,
        "raw": _without(promotion.raw, *CUSTOMER_PROMOTION_KEYS),
    }


def catalogue_promotion_row(org_id: int, promotion: CataloguePromotion) -> Row:
    """A promotion the catalogue lists but no roster customer holds yet."""
    raw = promotion.raw
    meta = promotion.metadata
    return {
        "org_id": org_id,
        "program_id": promotion.program_id,
        "promotion_id": promotion.promotion_id,
        "promotion_name": promotion.name,
        "identifier": meta.promo_identifier,
        "description": raw.get("description"),
        "start_date": parse_timestamp(raw.get("startDate")),
        "end_date": parse_timestamp(raw.get("endDate")),
        "points_offer_type": raw.get("pointsOfferType"),
        "status": meta.status,
        "created_on": meta.created_on,
        "last_modified_on": meta.last_modified_on,
        "raw": raw,
    }


def customer_promotion_row(org_id: int, customer_id: int, promotion: CustomerPromotion) -> Row:
    usage = promotion.customer_usage
    restriction = promotion.raw.get("promotionRestriction") or {}
    return {
        "org_id": org_id,
        "program_id": promotion.program_id,
        "customer_id": customer_id,
        "promotion_id": promotion.promotion_id,
        "current_points_per_customer": usage.current_points_per_customer if usage else None,
        "current_number_of_times_per_customer": (
            usage.current_number_of_times_per_customer if usage else None
        ),
        "current_total_points_in_promotion": (
            usage.current_total_points_in_promotion if usage else None
        ),
        "issual_restrictions": restriction.get("issualRestrictions"),
        "earn_restrictions": restriction.get("earnRestrictions"),
        "redemption_restrictions": restriction.get("redemptionRestrictions"),
        "raw": {k: promotion.raw[k] for k in CUSTOMER_PROMOTION_KEYS if k in promotion.raw},
    }


@dataclass
class SummaryRows:
    """The rows one actionSummary answer becomes, one list per table of the family."""

    summary: Row
    points: list[Row] = field(default_factory=list)
    currencies: list[Row] = field(default_factory=list)
    incentives: list[Row] = field(default_factory=list)

    def tables(self) -> Iterator[tuple[str, list[Row]]]:
        yield "benefit_summaries", [self.summary]
        yield "benefit_points", self.points
        yield "benefit_alternate_currencies", self.currencies
        yield "benefit_incentives", self.incentives


def summary_rows(
    org_id: int,
    program_id: int,
    customer_id: int,
    promotion_id: int,
    summary: BenefitSummary,
    api_version: str,
) -> SummaryRows:
    key = {
        "org_id": org_id,
        "program_id": program_id,
        "customer_id": customer_id,
        "promotion_id": promotion_id,
    }
    first_warning = summary.warnings[0] if summary.warnings else None
    return SummaryRows(
        summary={
            **key,
            "api_version": api_version,
            "promotion_identifier": (
                summary.promotion_identifier if isinstance(summary, BenefitSummaryV2) else None
            ),
            "warning_code": first_warning.code if first_warning else None,
            "warning_message": first_warning.message if first_warning else None,
            "no_benefits": summary.no_benefits,
            "raw": summary.raw,
        },
        points=_point_rows(key, summary),
        currencies=_currency_rows(key, summary),
        incentives=_incentive_rows(key, summary),
    )


# A category, currency or incentive listed twice in one answer is summed into one row.


def _point_rows(key: Row, summary: BenefitSummary) -> list[Row]:
    points: dict[str, Row] = {}
    for item in summary.points:
        category = item.points_category or "UNKNOWN"
        _accumulate(
            points,
            category,
            {**key, "points_category": category},
            total=("total_points_issued", item.total_points_issued),
            times=("number_of_times_issued", item.number_of_times_issued),
            last=item.last_issued_on,
            raw=item.raw,
        )
    return list(points.values())


def _currency_rows(key: Row, summary: BenefitSummary) -> list[Row]:
    currencies: dict[tuple[str, str], Row] = {}
    for currency in summary.currencies():
        name = currency.currency_name or "UNKNOWN"
        kind = currency.currency_type or ALL_CURRENCY_TYPES
        _accumulate(
            currencies,
            (name, kind),
            {**key, "currency_name": name, "currency_type": kind},
            total=("total_issued", currency.total_issued),
            times=("number_of_times_issued", currency.number_of_times_issued),
            last=currency.last_issued_on,
            raw=currency.model_dump(mode="json"),
        )
    return list(currencies.values())


def _incentive_rows(key: Row, summary: BenefitSummary) -> list[Row]:
    incentives: dict[tuple[str, str, str], Row] = {}
    for incentive in summary.incentives_normalised():
        ident = (
            incentive.action or "UNKNOWN",
            _action_id(incentive.action_id),
            incentive.activity_id or NO_ACTIVITY,
        )
        _accumulate(
            incentives,
            ident,
            {**key, "action": ident[0], "action_id": ident[1], "activity_id": ident[2]},
            total=None,
            times=("action_issued_count", incentive.action_issued_count),
            last=incentive.last_issued_on,
            raw=incentive.raw or incentive.model_dump(mode="json", by_alias=True),
        )
    return list(incentives.values())


def _accumulate(
    into: dict[Any, Row],
    ident: Any,
    base: Row,
    *,
    total: tuple[str, Any] | None,
    times: tuple[str, int | None],
    last: datetime | None,
    raw: dict[str, Any],
) -> None:
    row = into.get(ident)
    if row is None:
        row = {**base, "last_issued_on": last, "raw": raw}
        if total:
            row[total[0]] = total[1]
        row[times[0]] = times[1]
        into[ident] = row
        return
    if total and total[1] is not None:
        row[total[0]] = (row.get(total[0]) or 0) + total[1]
    if times[1] is not None:
        row[times[0]] = (row.get(times[0]) or 0) + times[1]
    if last and (row["last_issued_on"] is None or last > row["last_issued_on"]):
        row["last_issued_on"] = last
    row["raw"] = (
        {"merged": [row["raw"], raw]}
        if "merged" not in row["raw"]
        else {"merged": [*row["raw"]["merged"], raw]}
    )


Tier = tuple[Any, Any, Any]  # (slab_sno, current_slab, slab_expiry_date)


def tier_of(detail_row: Row) -> Tier:
    return (detail_row["slab_sno"], detail_row["current_slab"], detail_row["slab_expiry_date"])


def tier_history_row(detail_row: Row, before: Tier | None, seen_at: datetime) -> Row | None:
    """A tier_history row when the tier differs from the one stored before, else None.

    A customer seen for the first time gets a row with no previous tier ("first seen").
    """
    tier = tier_of(detail_row)
    if before is not None and before[0] == tier[0]:
        return None
    return {
        "org_id": detail_row["org_id"],
        "program_id": detail_row["program_id"],
        "customer_id": detail_row["customer_id"],
        "valid_from": seen_at,
        "slab_sno": tier[0],
        "current_slab": tier[1],
        "slab_expiry_date": tier[2],
        "previous_slab_sno": before[0] if before else None,
        "previous_slab": before[1] if before else None,
        "previous_slab_expiry_date": before[2] if before else None,
    }


# Fields the reference page documents on every loyaltyProgramDetails record: a record that
# lacks one is refused (and recorded) rather than written as NULL over a good value.
REQUIRED_DETAIL_FIELDS = {
    "loyalty_points": "loyaltyPoints",
    "lifetime_points": "lifetimePoints",
    "current_slab": "currentSlab",
    "slab_sno": "slabSNo",
}


def missing_fields(row: Row, required: dict[str, str]) -> list[str]:
    """The API names of `required` columns that `row` holds no value for."""
    return [field for column, field in required.items() if row.get(column) is None]
