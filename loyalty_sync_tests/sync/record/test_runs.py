"""sync_runs rows: opened, added to pass by pass with one attribution of calls, closed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from loyalty_sync.capillary.stats import ApiCounts
from loyalty_sync.sync.record import liveness, runs
from loyalty_sync.sync.record.outcome import PartitionCalls, PassOutcome
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope

KEYS = ["51135-2568", "51135-2569", "51136-2570"]


def _rows(engine: sa.Engine, run_id: str = "run-1") -> dict[str, sa.Row]:
    t = tables.sync_runs
    with engine.connect() as conn:
        return {r.partition_key: r for r in conn.execute(sa.select(t).where(t.c.run_id == run_id))}


def _outcome() -> PassOutcome:
    outcome = PassOutcome()
    outcome.spent_by_org = {51135: ApiCounts(calls=7, retries=1), 51136: ApiCounts(calls=4)}
    outcome.rows_by_partition = Counter({("customers", "51135-2568"): 5})
    outcome.placed_codes = Counter({(51135, "51135-2569", 8116): 2, (51135, None, 8015): 1})
    return outcome


def test_an_orgs_calls_are_attributed_once_and_sync_runs_adds_that_attribution(
    engine: sa.Engine,
) -> None:
    scope = RunScope.from_partition_keys("run-1", KEYS, ["customers", "promotions"])
    outcome = _outcome()
    calls = outcome.calls_by_partition(scope)
    assert calls == {
        "51135-2568": PartitionCalls(4, 1),
        "51135-2569": PartitionCalls(3, 0),
        "51136-2570": PartitionCalls(4, 0),
    }
    runs.open_runs(engine, scope, scope.passes)
    runs.record_pass(engine, scope, "customers", outcome, ["customers", "loyalty_program_details"])
    rows = _rows(engine)
    assert {k: (r.api_calls, r.retries) for k, r in rows.items()} == {
        k: (c.calls, c.retries) for k, c in calls.items()
    }
    first = rows["51135-2568"]
    assert first.rows == {"customers": 5, "loyalty_program_details": 0}
    assert first.warnings == {"8015": 1}  # org-level codes count for each of the org's
    assert rows["51135-2569"].warnings == {"8015": 1, "8116": 2}
    assert first.passes == {"customers": "done", "promotions": "expected"}
    assert first.status == "running" and first.finished_at is None


def test_the_last_expected_pass_closes_the_row_as_a_success(engine: sa.Engine) -> None:
    scope = RunScope.from_partition_keys("run-1", KEYS[:1], ["customers", "promotions"])
    runs.open_runs(engine, scope, scope.passes)
    runs.open_runs(engine, scope, scope.passes)  # a retried step keeps its rows
    runs.record_pass(engine, scope, "customers", _outcome())
    runs.record_pass(engine, scope, "promotions", _outcome())
    row = _rows(engine)["51135-2568"]
    assert row.status == "success" and row.finished_at is not None
    assert row.api_calls == 14  # the org's 7 calls, twice, on its only partition in the run
    assert row.synced_at >= row.started_at - timedelta(minutes=5)


def test_a_failed_pass_and_a_blocking_check_close_rows_as_failed(engine: sa.Engine) -> None:
    scope = RunScope.from_partition_keys("run-1", KEYS)
    runs.open_runs(engine, scope, scope.passes)
    runs.fail_runs(engine, scope.only(KEYS[0]), "Boom: it broke")
    with engine.begin() as conn:
        assert runs.block(conn, "run-1", PartitionScope.from_keys(KEYS[:2]), "drop") == 2
    rows = _rows(engine)
    assert rows[KEYS[0]].error == "Boom: it broke; drop"
    assert rows[KEYS[1]].status == "failed" and rows[KEYS[1]].error == "drop"
    assert rows[KEYS[2]].status == "running"


def test_rows_of_ended_or_silent_runs_are_abandoned(engine: sa.Engine) -> None:
    for run_id in ("ended", "silent", "alive"):
        scope = RunScope.from_partition_keys(run_id, KEYS[:1])
        runs.open_runs(engine, scope, scope.passes)
    assert sorted(liveness.running_run_ids(engine)) == ["alive", "ended", "silent"]
    assert liveness.abandon(engine, ["ended"], "its run ended") == 1
    t = tables.sync_runs
    with engine.begin() as conn:
        conn.execute(
            sa.update(t)
            .where(t.c.run_id == "silent")
            .values(synced_at=sa.func.now() - timedelta(hours=25))
        )
    assert liveness.abandon_stale(engine) == 1
    assert _rows(engine, "ended")[KEYS[0]].status == "abandoned"
    assert _rows(engine, "silent")[KEYS[0]].error.startswith("no progress for")
    assert liveness.running_run_ids(engine) == ["alive"]
