"""`change_signal_drift` on customer_promotions and benefit_summaries: what signals miss."""

from collections.abc import Iterator

import dagster as dg

from loyalty_sync.checks.drift import Drift, drift
from loyalty_sync.defs.checks.common import (
    AFTER_THE_PASSES,
    PARTITIONED,
    WARN,
    per_partition,
    percent,
)
from loyalty_sync.defs.checks.config import DriftConfig
from loyalty_sync.defs.resources import WarehouseResource
from loyalty_sync.warehouse.scope import PartitionScope

# asset -> (pass, endpoint) whose skipped items the sample re-fetched
DRIFT_CHECKED = {
    "customer_promotions": ("promotions", "promotionData"),
    "benefit_summaries": ("benefits", "actionSummary"),
}


def _describe(found: Drift, endpoint: str, max_share: float) -> str:
    """What the sample found, or why there was none: nothing skipped (a first or full
    sync, or every item due), or skipped items that drew no sample (the day's sample was
    fetched by an earlier sync, or the share drew none)."""
    if found.sampled:
        return (
            f"{found.changed} of {found.sampled} sampled skipped {endpoint} items had "
            f"changed ({percent(found.share)}; threshold {percent(max_share)})"
        )
    if not found.skipped:
        return f"no {endpoint} item was skipped, so none was sampled (every item was fetched)"
    return (
        f"none of the {found.skipped} skipped {endpoint} items was sampled (the day's sample "
        "was fetched earlier today, or the sample share drew none)"
    )


def _drift_check(asset: str, pass_name: str, endpoint: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="change_signal_drift",
        description=f"Share of the {endpoint} items a change-driven sync skipped, sampled and "
        "re-fetched, that had in fact changed (sync_runs.signals; the figures of the "
        "partition's org, whose customers one pass serves): WARN above max_share. A "
        "high share means the signals miss changes: shorten the max age.",
        op_tags=AFTER_THE_PASSES,
        partitions_def=PARTITIONED,
    )
    def change_signal_drift(
        context: dg.AssetCheckExecutionContext,
        config: DriftConfig,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
        engine = warehouse.get_engine()

        def judge(scope: PartitionScope) -> list[dg.AssetCheckResult]:
            with engine.connect() as conn:
                (found,) = drift(conn, pass_name, scope, context.run.run_id)
            return [_drift_result(found, endpoint, config)]

        yield from per_partition(context, judge)

    return change_signal_drift


def _drift_result(found: Drift, endpoint: str, config: DriftConfig) -> dg.AssetCheckResult:
    """One partition's verdict: judged only from `min_sampled` sampled items up."""
    judged = found.sampled >= config.min_sampled
    return dg.AssetCheckResult(
        passed=not judged or found.share <= config.max_share,
        severity=WARN,
        description=_describe(found, endpoint, config.max_share),
        metadata={
            "endpoint": endpoint,
            "sampled": found.sampled,
            "sampled_changed": found.changed,
            "share": dg.MetadataValue.float(round(found.share, 4)),
            "skipped": found.skipped,
            "skipped_changed_estimate": found.missed_estimate,
            "judged": judged,
            "sync_run": found.run_id or "",
        },
    )


drift_checks = [_drift_check(asset, *what) for asset, what in DRIFT_CHECKED.items()]
