"""`sync_runs`: one row per partition per run, from opened to closed.

A run opens a `running` row per partition naming the passes it means to make. Each pass
adds its rows, calls and codes to its partitions' rows and ticks itself off; when the
last expected pass is done the row is `success`. A failing pass, or a blocking check,
closes it `failed` with the reason; a run that died without closing its rows has them
closed `abandoned` (`liveness`). Sync recency is judged from rows that say how the sync
ended, not from the absence of errors in logs.

Clocks: `started_at` is the run scope's start by the local clock of the host that ran
it; `finished_at` and `synced_at` are the warehouse's `now()`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from loyalty_sync.sync.record.generations import fail_generations
from loyalty_sync.sync.record.model import PassPlan, SyncStatus, codes_json
from loyalty_sync.sync.record.outcome import PartitionCalls, PassOutcome
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope


def open_runs(engine: sa.Engine, scope: RunScope, passes: Sequence[str]) -> None:
    """Open a `running` row per partition, naming the passes this run means to make.

    A retried step finds its rows already there and keeps them.
    """
    plan = PassPlan(tuple(passes)).as_runs_json()
    rows = [
        {
            "run_id": scope.run_id,
            "partition_key": key,
            "org_id": org,
            "program_id": program,
            "started_at": scope.started_at,
            "status": SyncStatus.RUNNING.value,
            "rows": {},
            "api_calls": 0,
            "retries": 0,
            "warnings": {},
            "passes": plan,
            "synced_at": sa.func.now(),
        }
        for (org, program), key in zip(scope.partitions, scope.partition_keys, strict=True)
    ]
    stmt = sa.dialects.postgresql.insert(tables.sync_runs).values(rows).on_conflict_do_nothing()
    with engine.begin() as conn:
        conn.execute(stmt)


def record_pass(
    engine: sa.Engine,
    scope: RunScope,
    name: str,
    outcome: PassOutcome,
    family: Sequence[str] = (),
) -> None:
    """Add a pass's rows, calls and codes to its partitions' rows and tick the pass off.

    Calls are the outcome's one attribution (`PassOutcome.calls_by_partition`). When this
    was the last pass the run expected, the partition's sync is a success.
    """
    t = tables.sync_runs
    calls = outcome.calls_by_partition(scope)
    with engine.begin() as conn:
        current = conn.execute(
            sa.select(t).where(t.c.run_id == scope.run_id).with_for_update()
        ).all()
        keys = set(scope.partition_keys)
        for row in current:
            if row.partition_key not in keys:
                continue
            spent = calls.get(row.partition_key, PartitionCalls())
            values = _after_pass(row, name, outcome, spent, family)
            conn.execute(
                sa.update(t)
                .where(t.c.run_id == scope.run_id, t.c.partition_key == row.partition_key)
                .values(**values)
            )


def _after_pass(
    row: sa.Row[Any],
    name: str,
    outcome: PassOutcome,
    spent: PartitionCalls,
    family: Sequence[str],
) -> dict[str, Any]:
    """A partition's `sync_runs` values once pass `name` has added what it did."""
    key = row.partition_key
    warnings = Counter({int(k): v for k, v in (row.warnings or {}).items()})
    warnings.update(outcome.codes_for(row.org_id, key))
    plan = PassPlan.from_runs_json(row.passes).tick(name)
    values: dict[str, Any] = {
        "rows": {**dict(row.rows or {}), **outcome.rows_of(key, family)},
        "api_calls": (row.api_calls or 0) + spent.calls,
        "retries": (row.retries or 0) + spent.retries,
        "warnings": codes_json(warnings.items()),
        "passes": plan.as_runs_json(),
        "signals": {**(row.signals or {}), name: outcome.org_signals(row.org_id).as_json()},
        "synced_at": sa.func.now(),
    }
    if plan.finished and row.status == SyncStatus.RUNNING.value:
        values |= {"status": SyncStatus.SUCCESS.value, "finished_at": sa.func.now()}
    return values


def fail_runs(engine: sa.Engine, scope: RunScope, error: str) -> None:
    """Close the run's partitions as failed: a pass raised."""
    with engine.begin() as conn:
        _close_failed(conn, scope.run_id, scope.partitions, sa.literal(error))


def block(conn: sa.Connection, run_id: str, partitions: PartitionScope, reason: str) -> int:
    """Close a run's partitions as failed with `reason` added to their error.

    A blocking check that fails stops the run's later steps, so the passes that would have
    finished these rows never run; without this they would stay `running`.
    """
    fail_generations(conn, partitions)
    t = tables.sync_runs
    return _close_failed(conn, run_id, partitions, sa.func.concat_ws("; ", t.c.error, reason))


def _close_failed(conn: sa.Connection, run_id: str, partitions: PartitionScope, error: Any) -> int:
    if not partitions:
        return 0
    t = tables.sync_runs
    result = conn.execute(
        sa.update(t)
        .where(t.c.run_id == run_id, partitions.where(t))
        .values(
            status=SyncStatus.FAILED.value,
            finished_at=sa.func.now(),
            error=error,
            synced_at=sa.func.now(),
        )
    )
    return int(result.rowcount or 0)
