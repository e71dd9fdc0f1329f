"""A chunk of promotionData answers mapped to rows: promotions and customer promotions.

One promotionData walk per customer serves every program of the org; a promotion of
another org or of a program outside the run is not ours. A promotion is mapped once per
pass (`written`), however many customers hold it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from loyalty_sync.capillary.models import CataloguePromotion, CustomerPromotion, CustomerPromotions
from loyalty_sync.sync import rows as to_rows
from loyalty_sync.warehouse.scope import PartitionScope, partition_key

Row = dict[str, Any]
PromotionKey = tuple[int, int]  # (program_id, promotion_id)


@dataclass
class PromotionBatch:
    """The rows of one chunk's answers; `mine` joins the pass's `written` once written."""

    org_id: int
    partitions: PartitionScope
    catalogue: dict[int, CataloguePromotion]
    written: set[PromotionKey]
    served: Counter[tuple[str, str]]
    promotions: list[Row] = field(default_factory=list)
    held: list[Row] = field(default_factory=list)
    by_customer: dict[int, list[Row]] = field(default_factory=dict)
    mine: set[PromotionKey] = field(default_factory=set)

    def add(self, customer_id: int, answer: CustomerPromotions | Exception) -> None:
        if isinstance(answer, Exception):
            return
        self.by_customer[customer_id] = []
        for promotion in answer.promotions:
            if self._ours(promotion):
                self._add_held(customer_id, promotion)

    def _ours(self, promotion: CustomerPromotion) -> bool:
        if (self.org_id, promotion.program_id) not in self.partitions:
            return False
        return promotion.org_id is None or promotion.org_id == self.org_id

    def _add_held(self, customer_id: int, promotion: CustomerPromotion) -> None:
        ident = (promotion.program_id, promotion.promotion_id)
        if ident not in self.written and ident not in self.mine:
            self.mine.add(ident)
            entry = self.catalogue.get(promotion.promotion_id)
            self.promotions.append(to_rows.promotion_row(self.org_id, promotion, entry))
        row = to_rows.customer_promotion_row(self.org_id, customer_id, promotion)
        self.held.append(row)
        self.by_customer[customer_id].append(row)
        part = partition_key(self.org_id, promotion.program_id)
        self.served[("customer_promotions", part)] += 1

    @property
    def holding(self) -> set[int]:
        """Customers whose answer listed some promotion of ours."""
        return {row["customer_id"] for row in self.held}
