"""The production topology, end to end: as docs/deploy.md deploys it, driven as the UI does.

Code server, webserver and daemon run as separate processes on `dagster.production.yaml`
with Dagster's storage at a `postgresql://` URL (the documented form). Runs are launched
through GraphQL only: the daily schedule's run requests, then a backfill; the daemon's
queue starts them. The warehouse they leave is compared with a `loyalty-sync sync` of the
same simulator state. Then a run's worker dies with its code server (SIGKILL): run
monitoring must fail it, its slots must free, the run retry must resume it from its
checkpoints, and no `sync_runs` row may stay `running`.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from capillary_simulator import RunningSimulator
from loyalty_sync.defs.jobs import API_POOL, RANGE_START_TAG, capillary_sync_job
from loyalty_sync.defs.schedules import DAILY_SCHEDULE
from loyalty_sync.warehouse import tables
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.deploy.topology import (
    BIN,
    REPOSITORY,
    Topology,
    production_topology,
    wait_for,
)
from loyalty_sync_tests.factories import preset, serve_simulator
from loyalty_sync_tests.pg_servers import tcp_postgres
from loyalty_sync_tests.warehouse_content import content

CONFIG = preset("topology")
POLL_SECONDS = 5  # run monitoring's poll in this topology (production: 30)

# slow: the production topology: webserver, daemon and code server processes, driven by GraphQL
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def partition_keys(sim: RunningSimulator) -> list[str]:
    data = sim.dataset
    return [f"{org}-{p.program_id}" for org in data.org_ids for p in data.programs(org)]


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    with serve_simulator(CONFIG) as sim:
        yield sim


@pytest.fixture(scope="module")
def topology(
    simulator: RunningSimulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    root = tmp_path_factory.mktemp("production")
    with tcp_postgres(root) as server_url:
        admin = sa.engine.make_url(server_url)
        # The documented form for Dagster's storage; psycopg 3 named for the warehouse.
        storage = admin.set(drivername="postgresql", database="dagster")
        warehouse = admin.set(drivername="postgresql+psycopg", database="warehouse")
        engine = sa.create_engine(
            admin.set(drivername="postgresql+psycopg", database="postgres"),
            isolation_level="AUTOCOMMIT",
        )
        with engine.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE dagster"))
            conn.execute(sa.text("CREATE DATABASE warehouse"))
        engine.dispose()
        with production_topology(
            root,
            storage.render_as_string(hide_password=False),
            warehouse.render_as_string(hide_password=False),
            simulator,
            poll_interval=POLL_SECONDS,
        ) as running:
            keys = partition_keys(simulator)
            for key in keys:
                data = running.graphql(
                    """mutation Add($repo: RepositorySelector!, $key: String!) {
                        addDynamicPartition(repositorySelector: $repo,
                          partitionsDefName: "org_program", partitionKey: $key) {
                          __typename } }""",
                    repo=REPOSITORY,
                    key=key,
                )
                assert data["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"
            yield running


@pytest.fixture(scope="module")
def reference(
    simulator: RunningSimulator,
    tmp_path_factory: pytest.TempPathFactory,
    server_admin_url: str,
    template_url: str,
) -> dict[str, set[tuple[str, ...]]]:
    """The warehouse `loyalty-sync sync` makes of the same simulator state."""
    url = new_database(server_admin_url)
    cli = _cli_sync(simulator, url, tmp_path_factory.mktemp("cli"))
    assert cli.returncode == 0, cli.stderr[-3000:]
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return content(engine)
    finally:
        engine.dispose()


def _of_org(rows: dict[str, set[tuple[str, ...]]], org_id: int) -> dict[str, set[tuple[str, ...]]]:
    """The rows of one org (every data table's first column is org_id)."""
    return {name: {row for row in found if row[0] == str(org_id)} for name, found in rows.items()}


def _org_of(request: dict[str, object]) -> int:
    tags = {t["key"]: t["value"] for t in request["tags"]}  # type: ignore[attr-defined]
    return int((tags.get("dagster/partition") or tags[RANGE_START_TAG]).split("-")[0])


def _cli_sync(sim: RunningSimulator, url: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CAPILLARY_", "DAGSTER_"))},
        **sim.client_environment(),
        "CAPILLARY_RATE_LIMIT_PER_MINUTE": "600000",
        "LOYALTY_SYNC_DATABASE_URL": url,
        "LOYALTY_SYNC_HOME": str(home),
    }
    roster = home / "roster.csv"
    home.mkdir(exist_ok=True)
    roster.write_text(sim.roster_csv())
    command = [str(BIN / "loyalty-sync"), "roster", "import", str(roster)]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    return subprocess.run(
        [str(BIN / "loyalty-sync"), "sync", "--no-progress"],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _scheduled_requests(topology: Topology) -> list[dict[str, object]]:
    """The daily schedule's run requests now, as the UI's "Test schedule" evaluates them."""
    dry = topology.graphql(
        """mutation Dry($selector: ScheduleSelector!, $at: Float) {
            scheduleDryRun(selectorData: $selector, timestamp: $at) {
            __typename ... on PythonError { message }
            ... on DryRunInstigationTick { evaluationResult {
              skipReason error { message }
              runRequests { jobName runConfigYaml tags { key value } } } } } }""",
        selector={**REPOSITORY, "scheduleName": DAILY_SCHEDULE},
        at=time.time(),
    )
    evaluation = dry["scheduleDryRun"]["evaluationResult"]
    assert evaluation["error"] is None and evaluation["skipReason"] is None, evaluation
    return evaluation["runRequests"]


def _launch(topology: Topology, request: dict[str, object]) -> str:
    data = topology.graphql(
        """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
            __typename ... on LaunchRunSuccess { run { runId } }
            ... on PythonError { message } } }""",
        params={
            # A schedule's requests name no job: it is the schedule's own.
            "selector": {**REPOSITORY, "jobName": request["jobName"] or capillary_sync_job.name},
            "executionMetadata": {"tags": request["tags"]},
            "runConfigData": yaml.safe_load(str(request["runConfigYaml"])) or {},
        },
    )
    result = data["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def _backfill(topology: Topology, keys: list[str]) -> str:
    data = topology.graphql(
        """mutation Backfill($params: LaunchBackfillParams!) {
            launchPartitionBackfill(backfillParams: $params) {
              __typename ... on LaunchBackfillSuccess { backfillId }
              ... on PythonError { message } } }""",
        params={
            "selector": {
                "partitionSetName": "capillary_sync_partition_set",
                "repositorySelector": REPOSITORY,
            },
            "partitionNames": keys,
        },
    )
    result = data["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def _backfill_runs(topology: Topology, backfill_id: str) -> list[str]:
    runs = topology.runs(tags=[{"key": "dagster/backfill", "value": backfill_id}])
    return [r["runId"] for r in runs] or None  # type: ignore[return-value]


def _running_rows(engine: sa.Engine) -> int:
    t = tables.sync_runs
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).where(t.c.status == "running")) or 0)


def test_instance_check_passes_on_the_documented_url(topology: Topology) -> None:
    result = subprocess.run(
        [str(BIN / "loyalty-sync"), "instance", "check"],
        env=topology.env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "run launcher: MonitoredRunLauncher" in result.stdout
    assert "instance ok" in result.stdout


def test_schedule_and_backfill_through_graphql_equal_a_cli_sync(
    topology: Topology,
    simulator: RunningSimulator,
    reference: dict[str, set[tuple[str, ...]]],
) -> None:
    started = time.monotonic()
    requests = _scheduled_requests(topology)
    assert len(requests) == len(simulator.dataset.org_ids)  # one run per org
    scheduled = [_launch(topology, r) for r in requests]
    statuses = topology.wait_runs_finished(scheduled, timeout=400)
    assert set(statuses.values()) == {"SUCCESS"}, f"{statuses}\n{topology.logs()}"
    schedule_seconds = time.monotonic() - started

    backfill = _backfill(topology, partition_keys(simulator))
    runs = wait_for("the backfill's runs", lambda: _backfill_runs(topology, backfill), 60)
    statuses = topology.wait_runs_finished(runs, timeout=400)
    assert set(statuses.values()) == {"SUCCESS"}, f"{statuses}\n{topology.logs()}"
    assert _running_rows(topology.warehouse) == 0

    assert content(topology.warehouse) == reference
    print(
        f"schedule runs {schedule_seconds:.0f}s, then backfill; "
        f"whole test {time.monotonic() - started:.0f}s"
    )


def _claimed_slots(topology: Topology, run_id: str) -> int:
    import dagster as dg

    os.environ["DAGSTER_PG_URL"] = topology.env["DAGSTER_PG_URL"]
    with dg.DagsterInstance.from_config(topology.env["DAGSTER_HOME"]) as instance:
        info = instance.event_log_storage.get_concurrency_info(API_POOL)
        return len([s for s in info.claimed_slots if s.run_id == run_id])


def test_a_run_whose_worker_dies_is_failed_freed_retried_and_closed(
    topology: Topology, simulator: RunningSimulator, reference: dict[str, set[tuple[str, ...]]]
) -> None:
    simulator.set_faults(latency_ms=400)  # slow enough to kill it mid-pass
    try:
        # A scheduled run: a backfill's runs are retried only while the backfill is not
        # over, and a backfill of one run is over as soon as that run fails.
        request = _scheduled_requests(topology)[0]
        run_id = _launch(topology, request)
        wait_for(
            "the run to be mid-pass",
            lambda: (
                _running_rows(topology.warehouse) > 0
                and topology.runs(runIds=[run_id])[0]["status"] == "STARTED"
            ),
            120,
        )
        time.sleep(2)  # a few calls into its pass
        topology.kill_code_server()
        killed = time.monotonic()
        topology.start_code_server()  # as a supervisor (compose, Kubernetes) would
    finally:
        simulator.set_faults(latency_ms=0)

    statuses = topology.wait_runs_finished([run_id], timeout=120)
    failed_after = time.monotonic() - killed
    assert statuses[run_id] == "FAILURE", topology.logs()
    # Run monitoring polls every POLL_SECONDS; the restarted code server must load first.
    assert failed_after < 90, failed_after
    assert _claimed_slots(topology, run_id) == 0

    def retry() -> list[str] | None:
        runs = topology.runs(tags=[{"key": "dagster/parent_run_id", "value": run_id}])
        return [r["runId"] for r in runs] or None

    (retry_id,) = wait_for("the run retry", retry, 120)
    statuses = topology.wait_runs_finished([retry_id], timeout=400)
    assert statuses[retry_id] == "SUCCESS", topology.logs()
    assert _running_rows(topology.warehouse) == 0
    t = tables.sync_runs
    with topology.warehouse.connect() as conn:
        dead = conn.execute(
            sa.select(t.c.status, t.c.error).where(t.c.run_id == run_id).distinct()
        ).all()
    assert dead and {status for status, _ in dead} == {"abandoned"}, dead
    # The retry resumed from the dead run's checkpoints and left what a clean sync leaves.
    org_id = _org_of(request)
    assert _of_org(content(topology.warehouse), org_id) == _of_org(reference, org_id)
    print(f"dead run failed {failed_after:.0f}s after the kill; retry {retry_id} succeeded")
