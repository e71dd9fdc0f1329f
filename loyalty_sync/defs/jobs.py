"""Jobs: the full sync of the `capillary` group and the reports built on it, by org/program."""

from __future__ import annotations

import dagster as dg

from loyalty_sync.defs.partitions import org_program_partitions

CAPILLARY_SYNC_JOB = "capillary_sync"
# Assets computed from the synced tables (promotion_performance): no API calls.
REPORTING_GROUP = "reporting"
# Who asked for a run: cli, schedule, or the sensor's name.
TRIGGER_TAG = "loyalty_sync/trigger"
# Dagster's priority tag: higher goes first, among queued runs and among a run's steps.
PRIORITY_TAG = "dagster/priority"
# "true" on a run: ignore change signals and fetch every item (`loyalty-sync sync --full`).
FULL_TAG = "loyalty_sync/full"
# Dagster's tags for a run over a range of partition keys (what a single-run backfill makes).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# The concurrency pool every step that calls Capillary takes a slot of.
API_POOL = "capillary_api"

# The reporting group is selected by name, not by sharing the `capillary` group: a sync
# (CLI, schedule, backfill) refreshes the reports after the passes, and an asset a team
# adds to its own group does not join the sync's runs by accident.
capillary_sync_job = dg.define_asset_job(
    CAPILLARY_SYNC_JOB,
    selection=dg.AssetSelection.groups("capillary", REPORTING_GROUP).materializable(),
    partitions_def=org_program_partitions,
    description="Sync every Capillary table of the selected org/program partitions, then "
    "compute the reports built on them.",
    tags={"capillary/api": "shared"},
)


def contiguous_blocks(selected: list[str], ordered: list[str]) -> list[list[str]]:
    """Split `selected` into runs of keys adjacent in the instance's key order."""
    position = {key: i for i, key in enumerate(ordered)}
    blocks: list[list[str]] = []
    for key in sorted(set(selected), key=position.__getitem__):
        if blocks and position[key] == position[blocks[-1][-1]] + 1:
            blocks[-1].append(key)
        else:
            blocks.append([key])
    return blocks


def block_target(block: list[str]) -> tuple[str | None, dict[str, str]]:
    """How one run covers `block`: its partition key when it is one, else range tags."""
    if len(block) == 1:
        return block[0], {}
    return None, {RANGE_START_TAG: block[0], RANGE_END_TAG: block[-1]}
