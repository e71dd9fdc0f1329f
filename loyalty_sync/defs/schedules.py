"""The daily schedule: sync every org/program partition, one run per org."""

import dagster as dg

from loyalty_sync.capillary.errors import CapillaryError
from loyalty_sync.defs.jobs import (
    CAPILLARY_SYNC_JOB,
    RANGE_END_TAG,
    RANGE_START_TAG,
    TRIGGER_TAG,
    block_target,
    capillary_sync_job,
    contiguous_blocks,
)
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.defs.resources import CapillaryResource
from loyalty_sync.sync.discovery import discover_programs
from loyalty_sync.warehouse.scope import (
    INVALID_KEY_HINT,
    parse_partition_key,
    split_partition_keys,
)

DAILY_SCHEDULE = "daily_capillary_sync"
DAILY_CRON = "0 3 * * *"
PARTITION_TAG = "dagster/partition"
UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def busy_partitions(instance: dg.DagsterInstance, ordered: list[str]) -> dict[str, str]:
    """{partition key: run id} of the sync runs not finished yet (queued or running).

    A first sync of a large roster takes longer than a day: the next day's run must not
    start beside it (it would wait on the partition lock, or resume the same checkpoints
    twice). The running sync carries on across days from its checkpoints.
    """
    busy: dict[str, str] = {}
    records = instance.get_run_records(
        dg.RunsFilter(job_name=CAPILLARY_SYNC_JOB, statuses=UNFINISHED)
    )
    for record in records:
        tags = record.dagster_run.tags
        if PARTITION_TAG in tags:
            keys = [tags[PARTITION_TAG]]
        elif tags.get(RANGE_START_TAG) in ordered and tags.get(RANGE_END_TAG) in ordered:
            start, end = ordered.index(tags[RANGE_START_TAG]), ordered.index(tags[RANGE_END_TAG])
            keys = ordered[start : end + 1]
        else:
            keys = []
        busy.update(dict.fromkeys(keys, record.dagster_run.run_id))
    return busy


def org_run_requests(
    keys: list[str], ordered: list[str], tags: dict[str, str]
) -> list[dg.RunRequest]:
    """One run per org (per contiguous block of its keys in the instance's key order)."""
    by_org: dict[int, list[str]] = {}
    for key in keys:
        by_org.setdefault(parse_partition_key(key)[0], []).append(key)
    requests = []
    for org_keys in by_org.values():
        for block in contiguous_blocks(org_keys, ordered):
            key, range_tags = block_target(block)
            requests.append(
                dg.RunRequest(
                    run_key=key or f"{block[0]}..{block[-1]}",
                    partition_key=key,
                    tags={**tags, **range_tags},
                )
            )
    return requests


@dg.schedule(
    name=DAILY_SCHEDULE,
    cron_schedule=DAILY_CRON,
    execution_timezone="UTC",
    job=capillary_sync_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 03:00 UTC: sync every partition whose program Capillary lists.",
)
def daily_capillary_sync(
    context: dg.ScheduleEvaluationContext, capillary: CapillaryResource
) -> list[dg.RunRequest] | dg.SkipReason:
    """Sync every partition once a day, one run per org.

    One run per org rather than one per partition: an org's programs share their customer
    lookups inside a run, so a run per program would fetch every customer once per program.
    One per org rather than a single run: an org whose API access breaks fails alone, each
    org's run history answers "when was this org last synced", and the `capillary/api` tag
    limit lets two orgs sync side by side under the one shared rate limit. A run covers a
    contiguous block of keys (partition range tags), as a backfill's would; an org whose
    programs were added at different times can take more than one block.

    Partitions whose previous sync has not finished (a first sync of a large roster takes
    more than a day) are left out and named; when that is all of them the tick is skipped
    with the reason. The running sync carries on from its checkpoints.

    Partitions whose program Capillary no longer lists are left out: a sync would replace
    their history with the nothing the API now serves. That costs one programs call per
    org; if it fails the day is skipped (the runs would meet the same API anyway).
    """
    ordered = list(context.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
    if not ordered:
        return dg.SkipReason("no org/program partitions yet: the discovery sensor adds them")
    try:
        listed = {p.key for p in discover_programs(capillary.get_client(), capillary.org_id_list())}
    except CapillaryError as exc:
        return dg.SkipReason(f"/v2/organization/programs failed, no runs requested: {exc}")
    live = _listed_partitions(context, ordered, listed)
    if not live:
        return dg.SkipReason("no partition's program is listed by Capillary")
    live, named = _not_busy(context, live, ordered)
    if not live:
        return dg.SkipReason(f"every partition's previous sync is still running: {named}")
    return org_run_requests(live, ordered, {TRIGGER_TAG: "schedule"})


def _listed_partitions(
    context: dg.ScheduleEvaluationContext, ordered: list[str], listed: set[str]
) -> list[str]:
    """The valid partitions whose program Capillary lists; the others are logged."""
    valid, invalid = split_partition_keys(ordered)
    for key in invalid:
        context.log.warning(
            f"skipped partition {key!r}: not ORG-PROGRAM; " + INVALID_KEY_HINT.format(key=key)
        )
    left_out = [key for key in valid if key not in listed]
    if left_out:
        context.log.info(f"not synced (program not listed): {', '.join(left_out)}")
    return [key for key in valid if key in listed]


def _not_busy(
    context: dg.ScheduleEvaluationContext, live: list[str], ordered: list[str]
) -> tuple[list[str], str]:
    """`live` less the partitions whose previous sync still runs, and those named."""
    busy = busy_partitions(context.instance, ordered)
    still = {key: busy[key] for key in live if key in busy}
    if not still:
        return live, ""
    named = ", ".join(f"{key} (run {run_id[:8]})" for key, run_id in sorted(still.items()))
    context.log.info(f"not synced, the previous sync is still running: {named}")
    return [key for key in live if key not in still], named


capillary_schedules = [daily_capillary_sync]
