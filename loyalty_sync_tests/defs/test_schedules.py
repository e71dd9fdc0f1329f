"""The daily schedule's run requests against a running simulator."""

from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.definitions.schedule_definition import ScheduleExecutionData
from dagster._core.storage.dagster_run import DagsterRun, make_new_run_id

from loyalty_sync.defs.assets import capillary_assets
from loyalty_sync.defs.jobs import (
    CAPILLARY_SYNC_JOB,
    RANGE_END_TAG,
    RANGE_START_TAG,
    capillary_sync_job,
)
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.defs.schedules import DAILY_CRON, PARTITION_TAG, daily_capillary_sync
from loyalty_sync.warehouse.scope import parse_partition_key
from loyalty_sync_tests.defs.automation_env import (
    CONNECTED_ORG,
    HOME_ORG,
    KEYS,
    AutomationEnv,
    automation_env,
)


@pytest.fixture
def env(fresh_database_url: str) -> Iterator[AutomationEnv]:
    with automation_env(fresh_database_url, ephemeral=False) as running:
        yield running


def _covered(request: dg.RunRequest, ordered: list[str]) -> list[str]:
    if request.partition_key is not None:
        return [request.partition_key]
    start, end = request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]
    return ordered[ordered.index(start) : ordered.index(end) + 1]


def _evaluate(env: AutomationEnv) -> ScheduleExecutionData:
    """The tick as the scheduler sees it, with run requests checked against the job."""
    repository = dg.Definitions(
        assets=capillary_assets,
        jobs=[capillary_sync_job],
        schedules=[daily_capillary_sync],
        resources=env.resources,
    ).get_repository_def()
    with dg.build_schedule_context(
        instance=env.instance, resources=env.resources, repository_def=repository
    ) as context:
        return daily_capillary_sync.evaluate_tick(context)


def test_daily_runs_cover_every_partition_one_org_per_run(env: AutomationEnv) -> None:
    # A program added after the connected org's: the home org's keys are not contiguous.
    late = env.sim.add_program(HOME_ORG)
    late_key = f"{HOME_ORG}-{late['programId']}"
    env.add_partitions([*KEYS, late_key, f"{CONNECTED_ORG}-9999"])
    ordered = list(env.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))

    data = _evaluate(env)
    assert data.skip_message is None
    requests = list(data.run_requests or [])
    covered = [key for r in requests for key in _covered(r, ordered)]
    # Every partition once, except the one whose program Capillary does not list.
    assert sorted(covered) == sorted([*KEYS, late_key])
    for request in requests:
        assert len({parse_partition_key(k)[0] for k in _covered(request, ordered)}) == 1
        assert request.tags["loyalty_sync/trigger"] == "schedule"
    assert len(requests) == 3  # home org's first block, connected org, home org's late key
    assert daily_capillary_sync.cron_schedule == DAILY_CRON
    assert daily_capillary_sync.job_name == "capillary_sync"


def test_daily_run_skips_without_partitions_or_api(env: AutomationEnv) -> None:
    data = _evaluate(env)
    assert data.skip_message and "discovery sensor" in data.skip_message

    env.add_partitions(KEYS)
    env.sim.set_faults(error_rate=1.0)
    data = _evaluate(env)
    assert not data.run_requests
    assert data.skip_message and "no runs requested" in data.skip_message


def test_daily_run_skips_an_invalid_partition(env: AutomationEnv) -> None:
    env.add_partitions([KEYS[0], "nonsense", *KEYS[1:]])
    ordered = list(env.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
    data = _evaluate(env)
    covered = [key for r in data.run_requests or [] for key in _covered(r, ordered)]
    assert sorted(covered) == sorted(KEYS)
    assert "nonsense" not in covered


def _unfinished_run(env: AutomationEnv, tags: dict[str, str]) -> str:
    run = DagsterRun(
        job_name=CAPILLARY_SYNC_JOB,
        run_id=make_new_run_id(),
        tags=tags,
        status=dg.DagsterRunStatus.STARTED,
    )
    env.instance.add_run(run)
    return run.run_id


def test_daily_run_leaves_out_partitions_whose_sync_is_still_running(env: AutomationEnv) -> None:
    env.add_partitions(KEYS)
    ordered = list(env.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
    first = _unfinished_run(env, {PARTITION_TAG: ordered[0]})
    data = _evaluate(env)
    covered = [key for r in data.run_requests or [] for key in _covered(r, ordered)]
    assert sorted(covered) == sorted(ordered[1:])

    _unfinished_run(env, {RANGE_START_TAG: ordered[1], RANGE_END_TAG: ordered[-1]})
    data = _evaluate(env)
    assert not data.run_requests
    assert data.skip_message and "still running" in data.skip_message
    assert f"{ordered[0]} (run {first[:8]})" in data.skip_message
