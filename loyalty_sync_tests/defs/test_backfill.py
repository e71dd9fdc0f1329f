"""A backfill over every partition, launched and run the way the UI and the daemon do it.

The backfill is launched with the GraphQL mutation the UI's "Launch backfill" button sends,
on an instance configured by the repo's dagster.yaml (queued runs, tag limits). The test
then plays the daemon: it runs the backfill daemon's and the run queue daemon's iterations
in turn, against a workspace loaded from workspace.yaml, whose code server and run workers
are real subprocesses (the default run launcher). The simulator enforces the same rate
limit as the client, so any overshoot would also show up as 429 answers.
"""

import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster_graphql.test.utils import execute_dagster_graphql

from capillary_simulator import RunningSimulator
from loyalty_sync.defs.assets import capillary_assets
from loyalty_sync.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.factories import preset, serve_simulator

# slow: a backfill of every partition under a 60 a minute rate limit, by design
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# Below the ~70 requests of a full backfill, so the 60-second window assertion can fail;
# each request past the limit costs the run a second, so the data is no larger than that.
LIMIT_PER_MINUTE = 60
# Clean data (no planted anomalies) so that the runs succeed whatever the checks think.
CONFIG = preset("clean", rate_limit_per_minute=LIMIT_PER_MINUTE)
KEYS = ["51135-2568", "51135-2569", "51136-2570"]
TIMEOUT_SECONDS = 300
# Steps in the run worker's process rather than one process each: the same run, minus a
# few seconds of imports per step.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}

LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    with serve_simulator(CONFIG) as running:
        yield running


@pytest.fixture
def instance(
    simulator: RunningSimulator,
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dg.DagsterInstance]:
    """An instance of the repo's dagster.yaml; the environment the code server inherits."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name, value in simulator.client_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CAPILLARY_RATE_LIMIT_PER_MINUTE", str(LIMIT_PER_MINUTE))
    roster = tmp_path / "roster.csv"
    roster.write_text(simulator.roster_csv())
    import_roster(engine, roster)
    with dg.DagsterInstance.get() as opened:
        opened.add_dynamic_partitions(ORG_PROGRAM_PARTITIONS, KEYS)
        yield opened


def _launch(context: WorkspaceProcessContext) -> str:
    selection = [
        {"path": key.path}
        for spec in capillary_assets
        if isinstance(spec, dg.AssetsDefinition)
        for key in spec.keys
    ]
    result = execute_dagster_graphql(
        context.create_request_context(),
        LAUNCH_BACKFILL,
        {
            "params": {
                "assetSelection": selection,
                "allPartitions": True,
                "title": "everything",
                "runConfigData": IN_PROCESS,
            }
        },
    )
    answer = result.data["launchPartitionBackfill"]
    assert answer["__typename"] == "LaunchBackfillSuccess", answer
    return answer["backfillId"]


def _run_daemons_until_done(
    context: WorkspaceProcessContext, instance: dg.DagsterInstance, backfill_id: str
) -> Any:
    logger = logging.getLogger("loyalty_sync_tests.backfill")
    queue = QueuedRunCoordinatorDaemon(interval_seconds=1)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        list(execute_backfill_iteration(context, logger))
        list(queue.run_iteration(context))
        backfill = instance.get_backfill(backfill_id)
        assert backfill is not None
        if backfill.status not in (BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING):
            return backfill
        time.sleep(1)
    raise AssertionError(f"backfill not done after {TIMEOUT_SECONDS} s")


def test_backfill_of_every_partition_completes_within_the_rate_limit(
    simulator: RunningSimulator, instance: dg.DagsterInstance
) -> None:
    target = WorkspaceFileTarget([str(REPO / "workspace.yaml")])
    with create_test_daemon_workspace_context(target, instance) as context:
        simulator.reset_counters(limiter=True)
        backfill_id = _launch(context)
        backfill = _run_daemons_until_done(context, instance, backfill_id)

    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert runs and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [
        (r.run_id, r.status) for r in runs
    ]
    assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS
    # Single-run backfill policy: one run over the whole range, not one per partition.
    assert len(runs) == 1
    assert (runs[0].tags[RANGE_START_TAG], runs[0].tags[RANGE_END_TAG]) == (KEYS[0], KEYS[-1])
    # Asset runs carry no job tags; the capillary_api pool is what bounds them.
    assert runs[0].run_op_concurrency is not None
    assert "capillary_api" in (runs[0].run_op_concurrency.all_pools or [])
    for key in (tables.customers.name, tables.benefit_summaries.name, "api_events"):
        materialized = instance.get_materialized_partitions(dg.AssetKey(key))
        assert materialized == set(KEYS), key

    counters = simulator.counters()
    mine = counters["credentials"][CONFIG.username]
    assert mine["max_requests_in_60s"] <= LIMIT_PER_MINUTE
    assert counters["rate_limited"] == 0
    # The run's requests were spaced by the limiter: n of them take at least n - 1 slots
    # (without it they would take a second or two).
    record = instance.get_run_record_by_id(runs[0].run_id)
    assert record is not None and record.start_time and record.end_time
    run_seconds = record.end_time - record.start_time
    assert mine["requests"] > LIMIT_PER_MINUTE, "too few requests to test the 60 s window"
    assert run_seconds >= (mine["requests"] - 1) * 60 / LIMIT_PER_MINUTE
    print(
        f"backfill of {len(KEYS)} partitions: {len(runs)} run of {run_seconds:.1f} s, "
        f"{mine['requests']} requests; busiest 60 s: {mine['max_requests_in_60s']} "
        f"(limit {LIMIT_PER_MINUTE})"
    )
