"""The promotion catalogue (`GET /v3/promotions`), newest first, for the sensors.

Kept apart from the customer endpoints because it answers a different question (what
promotions exist, not what a customer holds) in a different page style, and because it
may be read only in part: a sensor asks for the newest pages and stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from loyalty_sync.capillary.envelope import catalogue_page
from loyalty_sync.capillary.models import CataloguePromotion, PromotionCatalogue
from loyalty_sync.capillary.paging import Page, PageRequest, PageTotals, read_pages
from loyalty_sync.capillary.transport import Transport


class CatalogueEndpoints:
    """The catalogue methods; the client supplies `transport`."""

    transport: Transport

    def promotion_catalogue_pages(
        self, org_id: int | None, status: str | None = None, page_size: int = 100
    ) -> Iterator[list[CataloguePromotion]]:
        """Pages of GET /v3/promotions sorted by last modification, lazily (for sensors)."""

        def fetch(request: PageRequest) -> Page[list[CataloguePromotion]]:
            params = {**request.page_size(), "status": status, "sortBy": "lastModifiedOn"}
            body = self.transport.get("promotion_catalogue", "/v3/promotions", org_id, params)
            items, total_pages, total_items = catalogue_page(body)
            promotions = [
                self.transport.answers.validated(CataloguePromotion, item, "promotion_catalogue")
                for item in items
            ]
            return Page(promotions, len(items), PageTotals(items=total_items, pages=total_pages))

        return read_pages(fetch, page_size)

    def promotion_catalogue(
        self,
        org_id: int | None,
        status: str | None = None,
        page_size: int = 100,
        max_pages: int | None = None,
    ) -> PromotionCatalogue:
        """The promotion catalogue, each promotion once; `max_pages` reads only the newest."""
        result = PromotionCatalogue()
        seen: dict[Any, CataloguePromotion] = {}
        for items in self.promotion_catalogue_pages(org_id, status, page_size):
            result.pages += 1
            for item in items:
                seen.setdefault(
                    item.promotion_id if item.promotion_id is not None else id(item), item
                )
            if max_pages is not None and result.pages >= max_pages and len(items) == page_size:
                result.complete = False
                break
        result.promotions = list(seen.values())
        return result
