"""`row_count_drop` on five tables: rows per partition against the previous sync."""

from collections.abc import Sequence

import dagster as dg

from loyalty_sync.checks import sync_health
from loyalty_sync.defs.checks.common import (
    AFTER_THE_PASSES,
    ERROR,
    WARN,
    judged_keys,
    judged_scope,
    percent,
)
from loyalty_sync.defs.checks.config import RowCountDropConfig
from loyalty_sync.defs.metadata import markdown_table
from loyalty_sync.defs.resources import WarehouseResource
from loyalty_sync.sync import ledger
from loyalty_sync.warehouse import tables

# table -> does a failed check stop the passes downstream of it (see the module docstring)
DROP_CHECKED: dict[str, bool] = {
    tables.customers.name: True,
    tables.loyalty_program_details.name: True,
    tables.customer_promotions.name: False,
    tables.promotions.name: False,
    tables.benefit_summaries.name: False,
}


def _drop_table(changes: Sequence[sync_health.RowCountChange]) -> str:
    return markdown_table(
        ["partition", "previous rows", "rows", "drop", "previous run", "run"],
        [
            [
                c.partition_key,
                str(c.previous_rows),
                str(c.rows),
                percent(c.drop_share),
                (c.previous_run_id or "")[:8],
                (c.run_id or "")[:8],
            ]
            for c in changes
        ],
    )


def _row_count_drop_check(table: str, blocking: bool) -> dg.AssetChecksDefinition:
    severity = ERROR if blocking else WARN

    @dg.asset_check(
        asset=table,
        name="row_count_drop",
        blocking=blocking,
        description=f"Rows of {table} per partition against the previous sync (sync_runs); "
        + ("ERROR, blocks the passes downstream." if blocking else "WARN."),
        op_tags=None if blocking else AFTER_THE_PASSES,
    )
    def row_count_drop(
        context: dg.AssetCheckExecutionContext,
        config: RowCountDropConfig,
        warehouse: WarehouseResource,
    ) -> dg.AssetCheckResult:
        scope = judged_scope(context, judged_keys(context))
        run_id = context.run.run_id
        engine = warehouse.get_engine()
        with engine.connect() as conn:
            changes = sync_health.row_count_changes(conn, table, scope, run_id)
        dropped = [
            c
            for c in changes
            if (c.previous_rows or 0) >= config.min_previous_rows
            and c.drop_share > config.max_drop_share
        ]
        description = (
            f"{len(dropped)} of {len(changes)} partitions lost more than "
            f"{percent(config.max_drop_share)} of their {table} rows"
        )
        if dropped and blocking:
            reason = f"blocked by {table}/row_count_drop: {description}"
            with engine.begin() as conn:
                ledger.block(conn, run_id, scope, reason)
        return dg.AssetCheckResult(
            passed=not dropped,
            severity=severity,
            description=description,
            metadata={
                "partitions_judged": len(changes),
                "partitions_dropped": len(dropped),
                "max_drop_share_seen": dg.MetadataValue.float(
                    round(max((c.drop_share for c in changes), default=0.0), 4)
                ),
                "rows": sum(c.rows or 0 for c in changes),
                "previous_rows": sum(c.previous_rows or 0 for c in changes),
                "dropped": dg.MetadataValue.md(_drop_table(dropped)),
                "dropped_keys": dg.MetadataValue.json([c.partition_key for c in dropped]),
                "by_partition": dg.MetadataValue.md(_drop_table(changes)),
            },
        )

    return row_count_drop


row_count_drop_checks = [
    _row_count_drop_check(table, blocking) for table, blocking in DROP_CHECKED.items()
]
