"""The customer endpoints a sync reads, each a typed method over `Transport.get`.

Each method knows only its path, its parameters and its model; the two paged ones walk
their pages with `paging`. A field Capillary leaves out but the request already names
(the customer id asked for) is filled in, so no caller has to remember which answers omit it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from loyalty_sync.capillary.envelope import single_object
from loyalty_sync.capillary.models import (
    BenefitSummaryV2,
    BenefitSummaryV3,
    Customer,
    CustomerPromotion,
    CustomerPromotions,
    LoyaltyDetails,
    ProgramList,
    PromotionDataPage,
)
from loyalty_sync.capillary.paging import Page, PageGuard, PageRequest, PageTotals, read_pages
from loyalty_sync.capillary.transport import Transport

PROMOTION_DATA_MAX_PAGE = 100


def _promotion_key(promotion: CustomerPromotion) -> tuple[Any, ...]:
    return (promotion.org_id, promotion.program_id, promotion.promotion_id)


def _promotion_data_totals(page: PromotionDataPage) -> PageTotals:
    """promotionData's page count is read only when it gives no count of entries."""
    details = page.page_details
    if details is None:
        return PageTotals()
    if details.total_entries is not None:
        return PageTotals(items=details.total_entries)
    return PageTotals(pages=details.page_count)


class Endpoints:
    """The typed customer and program endpoints; the client supplies `transport`."""

    transport: Transport

    def lookup_customer(
        self,
        org_id: int | None,
        identifier_name: str,
        identifier_value: str | int,
        *,
        source: str = "INSTORE",
        account_id: str | None = None,
        embed: Sequence[str] = ("mlp",),
    ) -> Customer:
        """GET /v2/customers/lookup/customerDetails (embed=mlp brings per-program details)."""
        params = {
            "source": source,
            "identifierName": identifier_name,
            "identifierValue": str(identifier_value),
            "accountId": account_id,
            "embed": ",".join(embed) if embed else None,
        }
        body = self.transport.get(
            "customer_lookup", "/v2/customers/lookup/customerDetails", org_id, params
        )
        return self.transport.answers.validated(Customer, single_object(body), "customer_lookup")

    def loyalty_details(
        self, org_id: int | None, customer_id: int, program_id: int | None = None
    ) -> LoyaltyDetails:
        """GET /v2/customers/{customerId}/loyaltyDetails."""
        body = self.transport.get(
            "loyalty_details",
            f"/v2/customers/{int(customer_id)}/loyaltyDetails",
            org_id,
            {"programId": program_id},
        )
        wrapped = body if isinstance(body, dict) else {"data": body}
        details = self.transport.answers.validated(LoyaltyDetails, wrapped, "loyalty_details")
        if details.customer_id is None:
            details.customer_id = int(customer_id)
        return details

    def promotion_data_pages(
        self,
        org_id: int | None,
        identifier_name: str,
        identifier_value: str | int,
        source: str = "INSTORE",
        page_size: int = PROMOTION_DATA_MAX_PAGE,
    ) -> Iterator[PromotionDataPage]:
        """Pages of GET /v2.1/customers/lookup/promotionData (limit/offset), lazily."""
        if not 1 <= page_size <= PROMOTION_DATA_MAX_PAGE:
            raise ValueError(f"promotionData page_size must be 1..{PROMOTION_DATA_MAX_PAGE}")
        lookup = {
            "identifierName": identifier_name,
            "identifierValue": str(identifier_value),
            "source": source,
        }

        def fetch(request: PageRequest) -> Page[PromotionDataPage]:
            params = {**lookup, **request.limit_offset()}
            body = self.transport.get(
                "promotion_data", "/v2.1/customers/lookup/promotionData", org_id, params
            )
            page = self.transport.answers.validated(PromotionDataPage, body, "promotion_data")
            return Page(page, len(page.promotions), _promotion_data_totals(page))

        return read_pages(fetch, page_size)

    def promotion_data(
        self,
        org_id: int | None,
        identifier_name: str,
        identifier_value: str | int,
        source: str = "INSTORE",
        page_size: int = PROMOTION_DATA_MAX_PAGE,
    ) -> CustomerPromotions:
        """Every promotion the customer holds, across all pages, each once."""
        result = CustomerPromotions()
        guard: PageGuard[CustomerPromotion] = PageGuard(
            _promotion_key,
            self.transport.settings.promotion_data_max_pages,
            lambda reason: self.transport.answers.unusable(reason, "promotion_data"),
            noun="promotion",
            cap_name="promotion_data_max_pages",
        )
        pages = self.promotion_data_pages(
            org_id, identifier_name, identifier_value, source, page_size
        )
        for page in pages:
            guard.add(page.promotions)
            result.warnings.extend(page.warnings)
            if result.customer_id is None:
                result.customer_id = page.customer_id
        result.pages = guard.pages
        result.promotions = guard.items
        return result

    def action_summary_v3(
        self,
        org_id: int | None,
        customer_id: int,
        program_id: int,
        promotion_id: int,
        activity_id: str | None = None,
    ) -> BenefitSummaryV3:
        """GET /v3/customers/{customerId}/customerPromotionDetails/actionSummary."""
        body = self.transport.get(
            "action_summary_v3",
            f"/v3/customers/{int(customer_id)}/customerPromotionDetails/actionSummary",
            org_id,
            {"programId": program_id, "promotionId": promotion_id, "activityId": activity_id},
        )
        summary = self.transport.answers.validated(BenefitSummaryV3, body, "action_summary_v3")
        if summary.entity_id is None:
            summary.entity_id = int(customer_id)
        return summary

    def action_summary_v2(
        self,
        org_id: int | None,
        identifier_name: str,
        identifier_value: str | int,
        program_id: int | None,
        *,
        promotion_id: int | str | None = None,
        promotion_identifier: str | None = None,
        source: str = "INSTORE",
    ) -> BenefitSummaryV2:
        """GET /v2/customers/lookup/customerPromotionDetails/actionSummary (by identifier)."""
        params = {
            "source": source,
            "identifierName": identifier_name,
            "identifierValue": str(identifier_value),
            "programId": program_id,
            "promotionId": promotion_id,
            "promotionIdentifier": promotion_identifier,
        }
        path = "/v2/customers/lookup/customerPromotionDetails/actionSummary"
        body = self.transport.get("action_summary_v2", path, org_id, params)
        return self.transport.answers.validated(BenefitSummaryV2, body, "action_summary_v2")

    def programs(self, org_id: int | None) -> ProgramList:
        """GET /v2/organization/programs (v2 envelope or a bare list)."""
        body = self.transport.get("programs", "/v2/organization/programs", org_id)
        return self.transport.answers.validated(ProgramList, body, "programs")
