"""`org_program_discovery`: partitions in step with the programs Capillary lists.

It takes the `capillary` resource, so its calls draw on the same per-key rate limit as
the runs. An API error never fails a tick: the tick is skipped with the reason and the
cursor is kept, so the next tick picks up where this one could not.
"""

import json
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from loyalty_sync.capillary.errors import CapillaryError
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS, org_program_partitions
from loyalty_sync.defs.resources import CapillaryResource, WarehouseResource
from loyalty_sync.sync.discovery import discover_programs
from loyalty_sync.sync.ledger import event_row
from loyalty_sync.warehouse import tables, writer
from loyalty_sync.warehouse.scope import (
    INVALID_KEY_HINT,
    PartitionKeyError,
    parse_partition_key,
    split_partition_keys,
)

DISCOVERY_SENSOR = "org_program_discovery"


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
    known = _known_keys(context)
    known_keys, listed_keys = set(known), set(listed)
    new = [key for key in listed if key not in known_keys]
    vanished = [key for key in known if _org_of(key) in org_ids and key not in listed_keys]
    _report_vanished(context, warehouse, vanished)
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


def _known_keys(context: dg.SensorEvaluationContext) -> list[str]:
    """The instance's valid partition keys; an invalid one is logged, never judged."""
    known, invalid = split_partition_keys(
        context.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS)
    )
    for key in invalid:
        context.log.warning(
            f"partition {key!r} names no org/program; " + INVALID_KEY_HINT.format(key=key)
        )
    return known


def _report_vanished(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource, vanished: list[str]
) -> None:
    """Record programs no longer listed, once each (the cursor names those reported)."""
    reported = set(json.loads(context.cursor or "{}").get("vanished", []))
    newly_vanished = [key for key in vanished if key not in reported]
    for key in sorted(reported - set(vanished)):
        context.log.info(f"partition {key}: its program is listed again")
    if not newly_vanished:
        return
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
