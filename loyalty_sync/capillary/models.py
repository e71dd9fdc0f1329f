"""Typed Capillary responses, tolerant of the shapes the API really sends.

Every model accepts unknown fields (`extra="allow"`) and keeps the object it was built from
in `.raw`, so a field Capillary adds tomorrow still reaches the warehouse's jsonb column.
The conversions absorb the quirks listed in the API notes: epoch milliseconds, `Z` and
offset timestamps all become aware UTC datetimes; amounts sent as strings or numbers become
`Decimal`; identifier values become strings; v2 and v3 benefit summaries can be read through
one normalised view (`points`, `currencies()`, `incentives()`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)
from pydantic.alias_generators import to_camel

from loyalty_sync.capillary.codes import NO_BENEFITS_WARNING


def parse_timestamp(value: Any) -> datetime | None:
    """Epoch millis (number or digit string), ISO with `Z` or an offset -> aware UTC datetime.

    A naive ISO time is taken as UTC: Capillary's docs promise an offset, and UTC is the
    least surprising reading when one is missing.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    elif isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_amount(value: Any) -> Decimal | None:
    """Numbers and numeric strings -> Decimal, via `str` so floats keep their printed digits."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not an amount")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():  # NaN and infinities: no amount Postgres or a report can use
        raise ValueError(f"not a finite amount: {value!r}")
    return amount


def parse_identifier(value: Any) -> str | None:
    """Ids typed Integer in one place and String in another -> their text form."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


Timestamp = Annotated[datetime | None, BeforeValidator(parse_timestamp)]
Amount = Annotated[Decimal | None, BeforeValidator(parse_amount)]
Identifier = Annotated[str | None, BeforeValidator(parse_identifier)]


class CapillaryModel(BaseModel):
    """Base: camelCase aliases, unknown fields kept, and the source object in `.raw`."""

    model_config = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True)

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: Any) -> Any:
        model = handler(data)
        if isinstance(data, dict):
            model._raw = data
        return model

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object as received (for jsonb columns); empty when built from Python values."""
        return self._raw


class ApiWarning(CapillaryModel):
    """A warning of a successful call, e.g. 8116 (no benefits earned): data, not a failure."""

    code: int | None = None
    message: str | None = None
    status: bool | None = None


def _warnings(value: Any) -> list[Any]:
    # Capillary sends warnings as null, a list of objects, or (rarely) a list of strings.
    if not value:
        return []
    items = value if isinstance(value, list) else [value]
    return [{"message": item} if isinstance(item, str) else item for item in items]


Warnings = Annotated[list[ApiWarning], BeforeValidator(_warnings)]


class WithWarnings(CapillaryModel):
    warnings: Warnings = Field(default_factory=list)

    @property
    def warning_codes(self) -> list[int]:
        return [w.code for w in self.warnings if w.code is not None]


# --- Customers and loyalty details -------------------------------------------------------


class LoyaltyProgramDetails(CapillaryModel):
    """Points and tier of one customer in one program (loyaltyDetails, or lookup with embed=mlp)."""

    program_id: int
    loyalty_id: int | None = None
    current_slab: str | None = None
    current_slab_description: str | None = None
    slab_sno: int | None = Field(default=None, validation_alias=AliasChoices("slabSNo", "slabSno"))
    slab_expiry_date: Timestamp = None
    next_slab: str | None = None
    next_slab_serial_number: int | None = None
    next_slab_description: str | None = None
    redeemed: Amount = None
    expired: Amount = None
    returned: Amount = None
    adjusted: Amount = None
    lifetime_points: Amount = None
    loyalty_points: Amount = None
    cumulative_purchases: Amount = None
    delayed_points: Amount = None
    delayed_returned_points: Amount = None
    delayed_expired_points: Amount = None
    total_available_points: Amount = None
    total_returned_points: Amount = None
    program_title: str | None = None
    program_description: str | None = None
    program_points_to_currency_ratio: Amount = None

    @property
    def enrolled(self) -> bool:
        """False for `loyaltyId == -1`: the row still carries a tier but the customer is not in."""
        return self.loyalty_id != -1

    @property
    def at_top_tier(self) -> bool:
        return self.next_slab_serial_number == -1


class CustomerIdentifier(CapillaryModel):
    type: str | None = None
    value: Identifier = None


class CustomerProfile(CapillaryModel):
    first_name: str | None = None
    last_name: str | None = None
    source: str | None = None
    account_id: str | None = None
    user_id: int | None = None
    identifiers: list[CustomerIdentifier] = Field(default_factory=list)


class Attribution(CapillaryModel):
    create_date: Timestamp = None
    modified_date: Timestamp = None


class LoyaltyInfo(CapillaryModel):
    loyalty_type: str | None = None
    lifetime_purchases: Amount = None
    attribution_v2: Attribution | None = Field(
        default=None, validation_alias=AliasChoices("attributionV2", "attribution")
    )


class Customer(WithWarnings):
    """GET /v2/customers/lookup/customerDetails: one customer and (embed=mlp) its programs."""

    customer_id: int = Field(validation_alias=AliasChoices("id", "customerId", "userId"))
    profiles: list[CustomerProfile] = Field(default_factory=list)
    loyalty_info: LoyaltyInfo | None = None
    extended_fields: dict[str, Any] = Field(default_factory=dict)
    loyalty_program_details: list[LoyaltyProgramDetails] = Field(default_factory=list)

    @property
    def profile(self) -> CustomerProfile | None:
        return self.profiles[0] if self.profiles else None


class LoyaltyDetails(WithWarnings):
    """GET /v2/customers/{id}/loyaltyDetails: one entry per program."""

    customer_id: int | None = None
    programs: list[LoyaltyProgramDetails] = Field(
        default_factory=list, validation_alias=AliasChoices("data", "programs")
    )


# --- Promotions a customer holds (promotionData) -----------------------------------------


class PageDetails(CapillaryModel):
    page_number: int | None = None
    page_size: int | None = None
    total_entries: int | None = None
    page_count: int | None = None


class PromotionLimits(CapillaryModel):
    max_points_per_event: Amount = None
    points_per_customer: Amount = None
    number_of_times_per_customer: Amount = Field(
        default=None,
        validation_alias=AliasChoices("numberOFTimesPerCustomer", "numberOfTimesPerCustomer"),
    )
    total_points_in_promotion: Amount = None


class CustomerUsage(CapillaryModel):
    current_points_per_customer: Amount = None
    current_number_of_times_per_customer: Amount = None
    current_total_points_in_promotion: Amount = None


class PromotionRestrictionRule(CapillaryModel):
    kpi: str | None = None
    max_limit: Amount = None
    current_customer_usage: Amount = None
    limit_on: str | None = None
    type: str | None = None


class PromotionRestrictions(CapillaryModel):
    issual_restrictions: list[PromotionRestrictionRule] = Field(default_factory=list)
    earn_restrictions: list[PromotionRestrictionRule] = Field(default_factory=list)
    redemption_restrictions: list[PromotionRestrictionRule] = Field(default_factory=list)


class PromotionMetadataEntry(CapillaryModel):
    key: str | None = None
    value: str | None = None
    brand_defined: bool | None = None


class CustomerPromotion(CapillaryModel):
    """One promotion a customer holds, with the customer's usage and the restrictions."""

    promotion_id: int
    promotion_name: str | None = None
    program_id: int | None = None
    org_id: int | None = Field(default=None, validation_alias=AliasChoices("orgId", "orgID"))
    start_date: Timestamp = None
    end_date: Timestamp = None
    identifier: str | None = None
    description: str | None = None
    active: bool | None = None
    event_name: str | None = None
    points_offer_type: str | None = None
    promotion_metadata: list[PromotionMetadataEntry] = Field(default_factory=list)
    limits: PromotionLimits | None = None
    customer_usage: CustomerUsage | None = None
    promotion_restriction: PromotionRestrictions | None = None


class PromotionDataPage(WithWarnings):
    """One page of GET /v2.1/customers/lookup/promotionData."""

    page_details: PageDetails | None = None
    customer_id: int | None = None
    org_id: int | None = Field(default=None, validation_alias=AliasChoices("orgId", "orgID"))
    promotions: list[CustomerPromotion] = Field(default_factory=list)


class CustomerPromotions(WithWarnings):
    """Every page of promotionData for one customer, each promotion once."""

    customer_id: int | None = None
    promotions: list[CustomerPromotion] = Field(default_factory=list)
    pages: int = 0


# --- Benefit summaries (actionSummary) ---------------------------------------------------


class PointsIssued(CapillaryModel):
    points_category: str | None = None
    total_points_issued: Amount = None
    number_of_times_issued: int | None = None
    last_issued_on: Timestamp = None


V3_CURRENCY_TYPE = "ALL"


class CurrencyIssued(BaseModel):
    """Normalised alternate-currency row; v3 has no types and reports `ALL`."""

    currency_name: str | None
    currency_type: str
    total_issued: Decimal | None
    number_of_times_issued: int | None
    last_issued_on: datetime | None
    raw: dict[str, Any] = Field(default_factory=dict)


class Incentive(CapillaryModel):
    """v3 incentive (REWARD, COUPONS, BADGES, ENROL, OPTIN, UPGRADE_TIER); also v2's, normalised."""

    activity_id: str | None = None
    action: str | None = None
    action_id: Identifier = None
    action_issued_count: int | None = None
    last_issued_on: Timestamp = None


class AlternateCurrencyV3(CapillaryModel):
    currency_name: str | None = None
    total_currency_issued: Amount = None
    number_of_times_issued: int | None = None
    last_issued_on: Timestamp = None


class AlternateCurrencySubDetail(CapillaryModel):
    alternate_currency_type: str | None = None
    total_issued: Amount = None
    number_of_times_issued: int | None = None
    last_issued_on: Timestamp = None


class AlternateCurrencyV2(CapillaryModel):
    alternate_currency_name: str | None = None
    sub_details: list[AlternateCurrencySubDetail] = Field(
        default_factory=list,
        validation_alias=AliasChoices(
            "alternateCurrencySubDetails", "alternateCurrenciesSubDetails"
        ),
    )


class RewardIssued(CapillaryModel):
    reward_series_id: Identifier = None
    number_of_times_issued: int | None = None
    last_issued_on: Timestamp = None


class BadgeIssued(CapillaryModel):
    badge_series_id: Identifier = None
    number_of_times_issued: int | None = None
    last_issued_on: Timestamp = None


def _unwrap_data(value: Any) -> Any:
    """v3 sends the summary at top level, or (with 8116) inside `data` with outer warnings."""
    if isinstance(value, dict) and isinstance(value.get("data"), dict):
        inner = dict(value["data"])
        inner["warnings"] = _warnings(inner.get("warnings")) + _warnings(value.get("warnings"))
        return inner
    return value


class BenefitSummary(WithWarnings):
    """What one customer earned in one promotion; `no_benefits` marks the 8116 answer."""

    org_id: int | None = None
    program_id: int | None = None
    promotion_id: int | None = None
    points: list[PointsIssued] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _accept_data_wrapper(cls, value: Any) -> Any:
        return _unwrap_data(value)

    @property
    def no_benefits(self) -> bool:
        return NO_BENEFITS_WARNING in self.warning_codes

    def currencies(self) -> list[CurrencyIssued]:
        raise NotImplementedError

    def incentives_normalised(self) -> list[Incentive]:
        raise NotImplementedError


class BenefitSummaryV3(BenefitSummary):
    """GET /v3/customers/{id}/customerPromotionDetails/actionSummary."""

    entity_id: int | None = Field(
        default=None, validation_alias=AliasChoices("entityId", "customerId")
    )
    incentives: list[Incentive] = Field(default_factory=list)
    alternate_currencies: list[AlternateCurrencyV3] = Field(default_factory=list)

    @property
    def customer_id(self) -> int | None:
        return self.entity_id

    def currencies(self) -> list[CurrencyIssued]:
        return [
            CurrencyIssued(
                currency_name=c.currency_name,
                currency_type=V3_CURRENCY_TYPE,
                total_issued=c.total_currency_issued,
                number_of_times_issued=c.number_of_times_issued,
                last_issued_on=c.last_issued_on,
                raw=c.raw,
            )
            for c in self.alternate_currencies
        ]

    def incentives_normalised(self) -> list[Incentive]:
        return list(self.incentives)


class BenefitSummaryV2(BenefitSummary):
    """GET /v2/customers/lookup/customerPromotionDetails/actionSummary (by identifier)."""

    customer_id: int | None = None
    promotion_identifier: str | None = None
    alternate_currencies: list[AlternateCurrencyV2] = Field(default_factory=list)
    rewards: list[RewardIssued] = Field(default_factory=list)
    badges: list[BadgeIssued] = Field(default_factory=list)

    def currencies(self) -> list[CurrencyIssued]:
        return [
            CurrencyIssued(
                currency_name=c.alternate_currency_name,
                currency_type=d.alternate_currency_type or "",
                total_issued=d.total_issued,
                number_of_times_issued=d.number_of_times_issued,
                last_issued_on=d.last_issued_on,
                raw={"alternateCurrencyName": c.alternate_currency_name, **d.raw},
            )
            for c in self.alternate_currencies
            for d in c.sub_details
        ]

    def incentives_normalised(self) -> list[Incentive]:
        """Rewards as REWARD and badges as BADGES, in v3's shape (v2 has no activity id)."""
        normalised: list[Incentive] = []
        for action, items in (("REWARD", self.rewards), ("BADGES", self.badges)):
            for item in items:
                incentive = Incentive(
                    action=action,
                    action_id=getattr(item, "reward_series_id", None)
                    or getattr(item, "badge_series_id", None),
                    action_issued_count=item.number_of_times_issued,
                    last_issued_on=item.last_issued_on,
                )
                incentive._raw = item.raw
                normalised.append(incentive)
        return normalised


# --- Org-level lists ---------------------------------------------------------------------


class LoyaltyProgram(CapillaryModel):
    program_id: int
    program_name: str | None = None
    program_description: str | None = None
    points_to_currency_ratio: Amount = None
    points_exchange_rate: Amount = None
    partner_program_type: str | None = None
    membership_period_value: int | None = None
    tier_based: bool | None = None


class ProgramList(WithWarnings):
    """GET /v2/organization/programs, from the v2 envelope or a bare list."""

    programs: list[LoyaltyProgram] = Field(
        default_factory=list, validation_alias=AliasChoices("data", "programs")
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_list(cls, value: Any) -> Any:
        return {"data": value} if isinstance(value, list) else value


class CataloguePromotionMetadata(CapillaryModel):
    promotion_id: int | None = Field(
        default=None, validation_alias=AliasChoices("promotionId", "id")
    )
    promo_identifier: str | None = None
    status: str | None = None
    created_on: Timestamp = None
    last_modified_on: Timestamp = None


class CataloguePromotion(CapillaryModel):
    """One promotion of GET /v3/promotions; its `metadata` says what changed and when."""

    name: str | None = None
    program_id: int | None = Field(
        default=None, validation_alias=AliasChoices("programId", "loyaltyProgramId")
    )
    metadata: CataloguePromotionMetadata = Field(default_factory=CataloguePromotionMetadata)

    @property
    def promotion_id(self) -> int | None:
        return self.metadata.promotion_id

    @property
    def last_modified_on(self) -> datetime | None:
        return self.metadata.last_modified_on


class PromotionCatalogue(WithWarnings):
    """The pages of /v3/promotions read, each promotion once."""

    promotions: list[CataloguePromotion] = Field(default_factory=list)
    pages: int = 0
    complete: bool = True
