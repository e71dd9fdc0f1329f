"""The three API passes of a sync: fetch, map, write, a chunk at a time.

Call economy is designed in here:
- customers: one customerDetails lookup (embed=mlp) per roster entry serves every program
  of the org, so a run over several programs of an org looks each customer up once;
- promotions: one promotionData walk (pages of 100) per customer serves every program;
- benefits: actionSummary only for pairs the API can answer: the customer is enrolled in
  the program (`loyaltyId` not -1) and the promotion did not end before 2025-06-12.

Each pass is a class (`base.OrgPass`) made per org: what items, fetch one, map and write
a chunk, finish. Mapping is `rows.py`'s; each pass writes its table family through one
scoped merge per table per chunk, and its deletes wait for the end of the pass
(`finish.py`). `PASSES` lists them in the order a sync makes them.
"""

from loyalty_sync.sync.passes.base import OrgPass
from loyalty_sync.sync.passes.benefit_pairs import BENEFIT_ORDER, BENEFIT_TABLES, BENEFITS_CUTOFF
from loyalty_sync.sync.passes.benefits import BenefitsPass
from loyalty_sync.sync.passes.customers import CustomersPass
from loyalty_sync.sync.passes.options import PassOptions
from loyalty_sync.sync.passes.promotions import PROMOTION_ORDER, PromotionsPass

PASSES: tuple[type[OrgPass], ...] = (CustomersPass, PromotionsPass, BenefitsPass)

__all__ = [
    "BENEFITS_CUTOFF",
    "BENEFIT_ORDER",
    "BENEFIT_TABLES",
    "PASSES",
    "PROMOTION_ORDER",
    "BenefitsPass",
    "CustomersPass",
    "OrgPass",
    "PassOptions",
    "PromotionsPass",
]
