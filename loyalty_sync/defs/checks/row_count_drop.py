"""`row_count_drop` on five tables: rows per partition against the previous sync."""

from collections.abc import Iterator, Sequence

import dagster as dg
import sqlalchemy as sa

from loyalty_sync.checks import sync_health
from loyalty_sync.defs.checks.common import (
    AFTER_THE_PASSES,
    ERROR,
    PARTITIONED,
    WARN,
    judged_keys,
    judged_scope,
    per_partition,
    percent,
)
from loyalty_sync.defs.checks.config import RowCountDropConfig
from loyalty_sync.defs.metadata import markdown_table
from loyalty_sync.defs.resources import WarehouseResource
from loyalty_sync.sync import ledger
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope

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


def _description(table: str, change: sync_health.RowCountChange | None, threshold: float) -> str:
    if change is None or change.previous_rows is None:
        return f"no previous sync of {table} to compare with"
    return (
        f"lost {percent(change.drop_share)} of its {table} rows "
        f"({change.previous_rows} -> {change.rows}; threshold {percent(threshold)})"
    )


def _result(
    table: str,
    changes: list[sync_health.RowCountChange],
    dropped: list[sync_health.RowCountChange],
    config: RowCountDropConfig,
    severity: dg.AssetCheckSeverity,
) -> dg.AssetCheckResult:
    """One partition's (or the run's) verdict, with every partition's counts in a table."""
    change = changes[0] if changes else None
    return dg.AssetCheckResult(
        passed=not dropped,
        severity=severity,
        description=_description(table, change, config.max_drop_share),
        metadata={
            "rows": sum(c.rows or 0 for c in changes),
            "previous_rows": sum(c.previous_rows or 0 for c in changes),
            "drop_share": dg.MetadataValue.float(
                round(max((c.drop_share for c in changes), default=0.0), 4)
            ),
            "judged": change is not None
            and (change.previous_rows or 0) >= config.min_previous_rows,
            "by_partition": dg.MetadataValue.md(_drop_table(changes)),
        },
    )


def _block_downstream(
    context: dg.AssetCheckExecutionContext,
    engine: sa.Engine,
    table: str,
    dropped_keys: list[str],
    config: RowCountDropConfig,
) -> None:
    """The passes downstream wait for every partition of the run, not only these."""
    reason = (
        f"blocked by {table}/row_count_drop: {', '.join(dropped_keys)} lost more "
        f"than {percent(config.max_drop_share)} of their {table} rows"
    )
    with engine.begin() as conn:
        scope = judged_scope(context, judged_keys(context))
        ledger.block(conn, context.run.run_id, scope, reason)


def _row_count_drop_check(table: str, blocking: bool) -> dg.AssetChecksDefinition:
    severity = ERROR if blocking else WARN

    @dg.asset_check(
        asset=table,
        name="row_count_drop",
        blocking=blocking,
        description=f"Rows of {table} per partition against the previous sync (sync_runs); "
        + ("ERROR, blocks the passes downstream." if blocking else "WARN."),
        op_tags=None if blocking else AFTER_THE_PASSES,
        partitions_def=PARTITIONED,
    )
    def row_count_drop(
        context: dg.AssetCheckExecutionContext,
        config: RowCountDropConfig,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
        engine = warehouse.get_engine()
        dropped_keys: list[str] = []

        def judge(scope: PartitionScope) -> list[dg.AssetCheckResult]:
            with engine.connect() as conn:
                changes = sync_health.row_count_changes(conn, table, scope, context.run.run_id)
            dropped = [
                c
                for c in changes
                if (c.previous_rows or 0) >= config.min_previous_rows
                and c.drop_share > config.max_drop_share
            ]
            dropped_keys.extend(c.partition_key for c in dropped)
            return [_result(table, changes, dropped, config, severity)]

        yield from per_partition(context, judge)
        if dropped_keys and blocking:
            _block_downstream(context, engine, table, dropped_keys, config)

    return row_count_drop


row_count_drop_checks = [
    _row_count_drop_check(table, blocking) for table, blocking in DROP_CHECKED.items()
]
