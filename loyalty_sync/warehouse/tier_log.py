"""`tier_history` records a tier only when it differs from the customer's latest stored one.

The customers pass stages a history row whenever the tier it fetched differs from the one
it read before its merge. That read can be stale: a second sync of the partition that read
before the first committed would record every customer as "first seen" again. The
partition lock keeps two syncs apart; this makes the write itself idempotent as well, by
comparing with what is stored at merge time, inside the pass's transaction.
"""

from __future__ import annotations

import sqlalchemy as sa

from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.writer import HeldDeletes, MergeResult, StagedMerge


class TierHistoryMerge(StagedMerge):
    """The writer's staged merge for `tier_history`, dropping repeats of the latest tier."""

    def finish(self, held: HeldDeletes | None = None) -> MergeResult:
        target = f"{tables.SCHEMA}.{tables.tier_history.name}"
        self.conn.execute(
            sa.text(
                f"DELETE FROM {self.stage} s WHERE EXISTS ("
                f" SELECT 1 FROM (SELECT t.slab_sno FROM {target} t"
                f"  WHERE t.org_id = s.org_id AND t.program_id = s.program_id"
                f"  AND t.customer_id = s.customer_id"
                f"  ORDER BY t.valid_from DESC LIMIT 1) latest"
                f" WHERE latest.slab_sno IS NOT DISTINCT FROM s.slab_sno)"
            )
        )
        return super().finish(held)
