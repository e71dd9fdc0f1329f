"""Each partition's own results, for the materialisation a run records per partition.

A run over several partitions materialises each asset once per partition, and Dagster
gives every one of them the step's metadata: without this, partition `51136-2570` would
show the whole run's rows, calls and 8116s. `context.add_asset_metadata(...,
partition_key=...)` overrides the step's metadata for one partition; this module computes
what goes there, from the warehouse and from `sync_runs`, which already holds each
partition's whole sync (an org-level call shared among the org's partitions in the run).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import sqlalchemy as sa

from loyalty_sync.defs.metadata import sample
from loyalty_sync.sync.ledger import PassOutcome, as_metadata_counts
from loyalty_sync.sync.record.outcome import PartitionCalls
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope, parse_partition_key


def partition_row_count(conn: sa.Connection, table: sa.Table, key: str) -> int:
    scope = PartitionScope.from_keys([key])
    query = sa.select(sa.func.count()).select_from(table).where(scope.where(table))
    return int(conn.scalar(query) or 0)


def by_partition(
    engine: sa.Engine,
    table: sa.Table,
    scope: RunScope,
    outcome: PassOutcome,
) -> dict[str, dict[str, Any]]:
    """Partition key -> the metadata that partition's materialisation of `table` shows.

    Its calls are the pass's one attribution of them, the one `sync_runs` adds up.
    """
    pass_calls = outcome.calls_by_partition(scope)
    results: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for key in scope.partition_keys:
            own = pass_calls.get(key, PartitionCalls())
            org_id, _ = parse_partition_key(key)
            org = outcome.spent_by_org.get(org_id)
            results[key] = {
                "dagster/row_count": partition_row_count(conn, table, key),
                "rows_synced": outcome.rows_of(key).get(table.name, 0),
                "api_calls": own.calls,
                "api_retries": own.retries,
                # The org's pass, as its progress bar showed it; its partitions share it.
                "org_api_calls": org.calls if org else 0,
                "warnings_by_code": as_metadata_counts(outcome.codes_for(org_id, key)),
                "partition": key,
                "sample": dg.MetadataValue.md(sample(engine, table, scope.only(key))),
            }
    return results


def sync_run_totals(engine: sa.Engine, run_id: str) -> dict[str, dict[str, Any]]:
    """Partition key -> its whole sync in this run, from its sync_runs row."""
    t = tables.sync_runs
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.run_id == run_id)).all()
    return {
        row.partition_key: {
            "rows_synced_by_table": {k: int(v) for k, v in sorted((row.rows or {}).items())},
            "api_calls": row.api_calls or 0,
            "api_retries": row.retries or 0,
            "warnings_by_code": {str(k): int(v) for k, v in sorted((row.warnings or {}).items())},
            "status": row.status,
            "partition": row.partition_key,
        }
        for row in rows
    }


def record(
    context: dg.AssetExecutionContext, asset_key: str, per_partition: dict[str, dict[str, Any]]
) -> None:
    """Attach each partition's own metadata to its materialisation of `asset_key`."""
    for key, metadata in per_partition.items():
        context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=key)
