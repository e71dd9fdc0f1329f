"""Sync recency, row-count changes and blocked runs, judged from hand-made sync_runs rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from loyalty_sync.checks import sync_health
from loyalty_sync.sync import ledger
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope
from loyalty_sync_tests.checks.rule_rows import NOW, insert, sync_run

KEY = "51135-2568"
OTHER = "51135-2569"


def test_freshness_per_partition(engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    insert(
        engine,
        tables.sync_runs,
        [
            sync_run("a", started_at=now - timedelta(hours=40)),  # finished 5 minutes later
            sync_run("b", started_at=now - timedelta(hours=3), status="failed"),
            sync_run("a", 2569, started_at=now - timedelta(hours=2)),
        ],
    )
    with engine.connect() as conn:
        rows = sync_health.partition_recency(
            conn, PartitionScope.from_keys([OTHER, KEY, "51136-2570"])
        )
        assert sync_health.synced_partitions(conn).keys == [KEY, OTHER]
    by_key = {r.partition_key: r for r in rows}
    assert [r.partition_key for r in rows] == [KEY, OTHER, "51136-2570"]
    stale = by_key[KEY]
    assert stale.latest_status == "failed"  # a later failure does not make it fresh
    assert stale.age_hours is not None and 40 - 5 / 60 <= stale.age_hours < 40
    assert stale.older_than(26) and not stale.older_than(48)
    assert not by_key[OTHER].older_than(26)
    never = by_key["51136-2570"]
    assert never.last_success_at is None and never.latest_status is None
    assert never.older_than(10_000)


def _changes(engine: sa.Engine, run_id: str | None) -> dict[str, sync_health.RowCountChange]:
    with engine.connect() as conn:
        changes = sync_health.row_count_changes(
            conn, "customers", PartitionScope.from_keys([KEY, OTHER]), run_id
        )
    return {c.partition_key: c for c in changes}


def test_row_count_changes_against_the_previous_sync_that_recorded_the_table(
    engine: sa.Engine,
) -> None:
    hours = [NOW - timedelta(hours=h) for h in range(5)]
    insert(
        engine,
        tables.sync_runs,
        [
            sync_run("r1", started_at=hours[4], rows={"customers": 100}),
            # blocked after the customers pass: its count is what the table held
            sync_run("r2", started_at=hours[3], rows={"customers": 60}, status="failed"),
            sync_run("r3", started_at=hours[2], rows={"promotions": 7}),  # no customers pass
            sync_run("r4", started_at=hours[1], rows={}, status="running"),  # served none
            sync_run("r1", 2569, started_at=hours[4], rows={"customers": 10}),
            sync_run("r5", started_at=hours[0], rows={"customers": 90}),  # a later run
        ],
    )
    in_run = _changes(engine, "r4")
    assert in_run[KEY].rows == 0 and in_run[KEY].previous_rows == 60
    assert in_run[KEY].previous_run_id == "r2"
    assert in_run[KEY].drop_share == 1.0
    assert in_run[OTHER].run_id == "r1" and in_run[OTHER].previous_rows is None
    assert in_run[OTHER].drop_share == 0.0

    on_its_own = _changes(engine, None)  # the latest two syncs that recorded the table
    assert (on_its_own[KEY].run_id, on_its_own[KEY].rows) == ("r5", 90)
    assert (on_its_own[KEY].previous_run_id, on_its_own[KEY].previous_rows) == ("r2", 60)
    assert on_its_own[KEY].drop_share == 0.0  # growth is no drop

    blocked = _changes(engine, "r2")
    assert blocked[KEY].drop_share == pytest.approx(0.4)


def test_block_closes_only_the_runs_partitions(engine: sa.Engine) -> None:
    insert(
        engine,
        tables.sync_runs,
        [
            sync_run("r1", status="running"),
            sync_run("r1", 2569, status="running"),
            sync_run("r0", started_at=NOW - timedelta(days=1)),
        ],
    )
    with engine.begin() as conn:
        assert ledger.block(conn, "r1", PartitionScope.from_keys([KEY, OTHER]), "first reason") == 2
        ledger.block(conn, "r1", PartitionScope.from_keys([KEY]), "second reason")
    t = tables.sync_runs
    with engine.connect() as conn:
        rows = {(r.run_id, r.partition_key): r for r in conn.execute(sa.select(t))}
    assert rows[("r1", KEY)].status == "failed"
    assert rows[("r1", KEY)].error == "first reason; second reason"
    assert rows[("r1", OTHER)].error == "first reason"
    assert rows[("r0", KEY)].status == "success"
