"""Sensors: org/program partition discovery, and runs for promotions Capillary adds.

Both take the `capillary` resource, so their calls draw on the same per-key rate limit as
the runs they start. Neither fails a tick on an API error: the tick is skipped with the
reason and the cursor is kept, so the next tick picks up where this one could not.
"""

import json
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from loyalty_sync.capillary.errors import CapillaryError
from loyalty_sync.defs.assets import api_events, benefits_pass, promotions_pass
from loyalty_sync.defs.jobs import PRIORITY_TAG, TRIGGER_TAG, capillary_sync_job
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS, org_program_partitions
from loyalty_sync.defs.resources import CapillaryResource, WarehouseResource
from loyalty_sync.sync.discovery import discover_programs
from loyalty_sync.sync.promotion_watch import CatalogueCursor, OrgScan, scan_org
from loyalty_sync.sync.scope import PartitionKeyError, parse_partition_key, partition_key
from loyalty_sync.sync.tally import event_row
from loyalty_sync.warehouse import tables, writer

DISCOVERY_SENSOR = "org_program_discovery"
NEW_PROMOTIONS_SENSOR = "new_promotions"
PROMOTION_TAG = "loyalty_sync/promotion_id"

# What a new promotion changes: the promotions pass, the benefits pass, and the closing
# api_events step that marks the partitions' sync_runs rows as done.
PROMOTION_ASSET_KEYS: list[dg.AssetKey] = sorted(
    {*promotions_pass.keys, *benefits_pass.keys, *api_events.keys},
    key=lambda k: k.to_user_string(),
)


def _org_of(key: str) -> int | None:
    try:
        return parse_partition_key(key)[0]
    except PartitionKeyError:
        return None


def _vanished_events(keys: list[str]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = []
    for key in keys:
        org_id, program_id = parse_partition_key(key)
        message = (
            f"program {program_id} of org {org_id} is no longer listed by "
            f"/v2/organization/programs; partition {key} and its history are kept"
        )
        rows.append(
            event_row(
                occurred_at=now,
                endpoint="programs",
                code=None,
                kind="warning",
                message=message,
                org_id=org_id,
                program_id=program_id,
            )
        )
    return rows


@dg.sensor(
    name=DISCOVERY_SENSOR,
    minimum_interval_seconds=15 * 60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Adds a partition for every org/program pair /v2/organization/programs lists for "
        "the configured orgs; reports (never deletes) programs that are no longer listed."
    ),
)
def org_program_discovery(
    context: dg.SensorEvaluationContext,
    capillary: CapillaryResource,
    warehouse: WarehouseResource,
) -> dg.SensorResult | dg.SkipReason:
    """Keep the org/program partitions in step with what Capillary lists.

    Partitions are dynamic because programs come and go without a code change; this sensor
    is what makes a new program (or a new org in CAPILLARY_ORG_IDS) syncable. A program
    that disappears keeps its partition: deleting it would drop its materialisation
    history, and the warehouse rows it wrote stay meaningful. It is reported once, in
    `api_events` (kind `warning`, endpoint `programs`, no code: Capillary gives none) and
    in the sensor log; the cursor lists the reported keys so later ticks stay quiet, and a
    program listed again is forgotten from it. Partitions of orgs that are no longer
    configured are left alone: they were not asked about.
    """
    org_ids = capillary.org_id_list()
    try:
        listed = [p.key for p in discover_programs(capillary.get_client(), org_ids)]
    except CapillaryError as exc:
        return dg.SkipReason(f"/v2/organization/programs failed, partitions unchanged: {exc}")
    known = context.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS)
    known_keys, listed_keys = set(known), set(listed)
    new = [key for key in listed if key not in known_keys]
    vanished = [key for key in known if _org_of(key) in org_ids and key not in listed_keys]
    reported = set(json.loads(context.cursor or "{}").get("vanished", []))
    newly_vanished = [key for key in vanished if key not in reported]
    for key in sorted(reported - set(vanished)):
        context.log.info(f"partition {key}: its program is listed again")
    if newly_vanished:
        with warehouse.get_engine().begin() as conn:
            writer.append(
                conn,
                tables.api_events,
                _vanished_events(newly_vanished),
                run_id=f"sensor:{DISCOVERY_SENSOR}",
            )
        for key in newly_vanished:
            context.log.warning(
                f"partition {key}: program no longer listed by Capillary; kept with its history"
            )
    cursor = json.dumps({"vanished": sorted(vanished)})
    if not new:
        summary = f"{len(listed)} programs listed, none new"
        if vanished:
            summary += f"; not listed any more: {', '.join(vanished)}"
        return dg.SensorResult(skip_reason=summary, cursor=cursor)
    context.log.info(f"new partitions: {', '.join(new)}")
    return dg.SensorResult(
        dynamic_partitions_requests=[org_program_partitions.build_add_request(new)],
        cursor=cursor,
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
    (see `sync/promotion_watch.py`). With no cursor for an org (first tick, or an org just
    added) the sensor records the catalogue as it is and requests nothing: existing
    promotions are the daily sync's job, not a flood of one run each. Changes to known
    promotions are also left to the daily sync. An API error skips the whole tick with
    its reason and keeps the cursor, so nothing is lost, only delayed.
    """
    cursor = CatalogueCursor.from_json(context.cursor)
    client = capillary.get_client()
    scans: list[OrgScan] = []
    try:
        for org_id in capillary.org_id_list():
            scans.append(scan_org(client, org_id, cursor.orgs.get(org_id)))
    except CapillaryError as exc:
        return dg.SkipReason(f"promotion catalogue unavailable, cursor kept: {exc}")
    for scan in scans:
        cursor = cursor.with_mark(scan.org_id, scan.mark)
    known = set(context.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
    requests, added = _promotion_runs(scans, known, context)
    if not requests:
        firsts = [str(s.org_id) for s in scans if s.first_look]
        reason = "no new promotions"
        if firsts:
            reason += f"; first look at org(s) {', '.join(firsts)}: catalogue recorded"
        return dg.SensorResult(skip_reason=reason, cursor=cursor.to_json())
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


capillary_sensors = [org_program_discovery, new_promotions]
