"""`new_promotions`: runs for the promotions Capillary adds, one call per org per tick.

The catalogue-reading logic (cursor, pages, what counts as new) is plain code beside this
module, in `promotion_watch.py`. An API error never fails a tick: the tick is skipped
with the reason and the cursor is kept, so the next tick picks up where this one could not.
"""

import dagster as dg

from loyalty_sync.capillary.errors import CapillaryError
from loyalty_sync.defs.assets import api_events, benefits_pass, promotions_pass
from loyalty_sync.defs.jobs import PRIORITY_TAG, TRIGGER_TAG, capillary_sync_job
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS, org_program_partitions
from loyalty_sync.defs.reports import promotion_performance
from loyalty_sync.defs.resources import CapillaryResource
from loyalty_sync.defs.sensors.promotion_watch import CatalogueCursor, OrgScan, scan_org
from loyalty_sync.warehouse.scope import partition_key

NEW_PROMOTIONS_SENSOR = "new_promotions"
PROMOTION_TAG = "loyalty_sync/promotion_id"

# What a new promotion changes: the promotions pass, the benefits pass, the closing
# api_events step that marks the partitions' sync_runs rows as done, and the report that
# shows the new promotion to ops.
PROMOTION_ASSET_KEYS: list[dg.AssetKey] = sorted(
    {*promotions_pass.keys, *benefits_pass.keys, *api_events.keys, *promotion_performance.keys},
    key=lambda k: k.to_user_string(),
)


def _promotion_runs(
    scans: list[OrgScan], known: set[str], context: dg.SensorEvaluationContext
) -> tuple[list[dg.RunRequest], list[str]]:
    """One run per new promotion, and the partition keys the instance does not have yet."""
    requests: list[dg.RunRequest] = []
    added: list[str] = []
    for scan in scans:
        for promotion in scan.new:
            if promotion.program_id is None:
                context.log.warning(
                    f"promotion {promotion.promotion_id} of org {scan.org_id} names no "
                    "program; the daily sync will bring it in"
                )
                continue
            key = partition_key(scan.org_id, promotion.program_id)
            unknown = key not in known
            if unknown and key not in added:
                added.append(key)
            requests.append(
                dg.RunRequest(
                    run_key=f"promotion-{scan.org_id}-{promotion.promotion_id}",
                    partition_key=key,
                    # A partition never synced needs its customers first: the whole job.
                    asset_selection=None if unknown else PROMOTION_ASSET_KEYS,
                    tags={
                        TRIGGER_TAG: NEW_PROMOTIONS_SENSOR,
                        PROMOTION_TAG: str(promotion.promotion_id),
                        # Ahead of queued backfill runs: this run is one partition's.
                        PRIORITY_TAG: "1",
                    },
                )
            )
    return requests, added


@dg.sensor(
    name=NEW_PROMOTIONS_SENSOR,
    job=capillary_sync_job,
    minimum_interval_seconds=5 * 60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Polls each org's promotion catalogue (/v3/promotions, newest first) and syncs the "
        "promotions, customer promotions and benefits of each new promotion's partition."
    ),
)
def new_promotions(
    context: dg.SensorEvaluationContext, capillary: CapillaryResource
) -> dg.SensorResult | dg.SkipReason:
    """Bring a promotion in soon after Capillary adds it, for one call per org per tick.

    Why the catalogue and not the customers: Capillary has no "changed since" endpoint for
    customer promotions, so noticing a new promotion by walking customers costs one
    promotionData call per customer per tick, which at any real roster size would eat the
    API key's whole per-minute budget. The catalogue sorted by lastModifiedOn answers "what
    is new" in one page per org. Only then is the expensive walk done, once, for the one
    partition (org/program) the promotion belongs to.

    Each new promotion P of org O requests one run of the promotions and benefits passes
    (and api_events) for partition O-R of its program R, with run key `promotion-O-P`, so
    Dagster never starts a second run for the same promotion even if a tick is evaluated
    again. A promotion of a program the instance has no partition for adds that partition
    and runs the whole job for it, since none of its customers have been synced.

    The cursor keeps, per org, the newest lastModifiedOn seen and the ids at that instant
    (see `promotion_watch.py` beside this module). With no cursor for an org (first
    tick, or an org just added) the sensor records the catalogue as it is and requests
    nothing: existing promotions are the daily sync's job, not a flood of one run each.
    Changes to known promotions are also left to the daily sync. An API error skips the
    whole tick with its reason and keeps the cursor, so nothing is lost, only delayed.
    """
    cursor = CatalogueCursor.from_json(context.cursor)
    try:
        scans = _scan_orgs(capillary, cursor)
    except CapillaryError as exc:
        return dg.SkipReason(f"promotion catalogue unavailable, cursor kept: {exc}")
    for scan in scans:
        cursor = cursor.with_mark(scan.org_id, scan.mark)
    known = set(context.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
    requests, added = _promotion_runs(scans, known, context)
    if not requests:
        return dg.SensorResult(skip_reason=_nothing_new(scans), cursor=cursor.to_json())
    return _requested(context, requests, added, cursor)


def _requested(
    context: dg.SensorEvaluationContext,
    requests: list[dg.RunRequest],
    added: list[str],
    cursor: CatalogueCursor,
) -> dg.SensorResult:
    context.log.info(
        "new promotions: "
        + ", ".join(f"{r.tags[PROMOTION_TAG]} ({r.partition_key})" for r in requests)
    )
    return dg.SensorResult(
        run_requests=requests,
        cursor=cursor.to_json(),
        dynamic_partitions_requests=(
            [org_program_partitions.build_add_request(added)] if added else None
        ),
    )


def _scan_orgs(capillary: CapillaryResource, cursor: CatalogueCursor) -> list[OrgScan]:
    """Each configured org's catalogue since its mark; any API error stops the tick."""
    client = capillary.get_client()
    return [scan_org(client, org_id, cursor.orgs.get(org_id)) for org_id in capillary.org_id_list()]


def _nothing_new(scans: list[OrgScan]) -> str:
    firsts = [str(s.org_id) for s in scans if s.first_look]
    reason = "no new promotions"
    if firsts:
        reason += f"; first look at org(s) {', '.join(firsts)}: catalogue recorded"
    return reason
