"""Jobs: the full sync of the `capillary` group, partitioned by org/program."""

from __future__ import annotations

import dagster as dg

from loyalty_sync.defs.partitions import org_program_partitions

CAPILLARY_SYNC_JOB = "capillary_sync"
# Who asked for a run: cli, schedule, or the sensor's name.
TRIGGER_TAG = "loyalty_sync/trigger"
# Dagster's priority tag: higher goes first, among queued runs and among a run's steps.
PRIORITY_TAG = "dagster/priority"

capillary_sync_job = dg.define_asset_job(
    CAPILLARY_SYNC_JOB,
    selection=dg.AssetSelection.groups("capillary").materializable(),
    partitions_def=org_program_partitions,
    description="Sync every Capillary table of the selected org/program partitions.",
    tags={"capillary/api": "shared"},
)
