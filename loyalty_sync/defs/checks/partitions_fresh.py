"""`partitions_fresh` on api_events: every partition synced successfully of late."""

from collections.abc import Sequence

import dagster as dg

from loyalty_sync.checks import sync_health
from loyalty_sync.checks.findings import format_value
from loyalty_sync.defs.checks.common import AFTER_THE_PASSES, ERROR, WARN, judged_scope
from loyalty_sync.defs.checks.config import PartitionsFreshConfig
from loyalty_sync.defs.metadata import markdown_table
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.defs.resources import WarehouseResource
from loyalty_sync.warehouse.scope import parse_partition_key


def _freshness_table(rows: Sequence[sync_health.PartitionRecency]) -> str:
    return markdown_table(
        ["partition", "program", "last success", "age (h)", "latest sync"],
        [
            [
                r.partition_key,
                parse_partition_key(r.partition_key)[1],
                format_value(r.last_success_at) or "",
                "never" if r.age_hours is None else f"{r.age_hours:.1f}",
                r.latest_status or "none",
            ]
            for r in rows
        ],
    )


@dg.asset_check(
    asset="api_events",
    name="partitions_fresh",
    description="Every org/program partition finished a successful sync recently "
    "(from sync_runs): WARN when stale or never synced, ERROR when overdue. One result for "
    "all partitions, since it is about the ones no run touched; `by_partition` lists each.",
    op_tags=AFTER_THE_PASSES,
)
def partitions_fresh(
    context: dg.AssetCheckExecutionContext,
    config: PartitionsFreshConfig,
    warehouse: WarehouseResource,
) -> dg.AssetCheckResult:
    with warehouse.get_engine().connect() as conn:
        keys = list(context.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
        scope = judged_scope(context, keys) if keys else sync_health.synced_partitions(conn)
        rows = sync_health.partition_recency(conn, scope)
    stale = [r for r in rows if r.older_than(config.warn_after_hours)]
    ages = [r.age_hours for r in rows if r.age_hours is not None]
    overdue = [r for r in stale if (r.age_hours or 0.0) > config.error_after_hours]
    return dg.AssetCheckResult(
        passed=not stale,
        severity=ERROR if overdue else WARN,
        description=(
            f"{len(stale)} of {len(rows)} partitions without a successful sync in "
            f"{config.warn_after_hours:g} h ({len(overdue)} over {config.error_after_hours:g} h)"
        ),
        metadata={
            # First, the per-partition verdicts: this check judges every partition at once.
            "by_partition": dg.MetadataValue.md(_freshness_table(rows)),
            "partitions_judged": len(rows),
            "stale_partitions": len(stale),
            "overdue_partitions": len(overdue),
            "share": dg.MetadataValue.float(round(len(stale) / len(rows), 4) if rows else 0.0),
            "oldest_success_age_hours": dg.MetadataValue.float(round(max(ages, default=0.0), 2)),
            "stale": dg.MetadataValue.md(_freshness_table(stale)),
            "stale_keys": dg.MetadataValue.json([r.partition_key for r in stale]),
        },
    )
