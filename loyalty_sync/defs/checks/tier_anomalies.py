"""The seven tier checks on loyalty_program_details, one op running one query per rule."""

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import dagster as dg

from loyalty_sync.checks.findings import Finding
from loyalty_sync.checks.tier_anomalies import TIER_RULES, tier_findings
from loyalty_sync.defs.checks.common import (
    AFTER_THE_PASSES,
    ERROR,
    PARTITIONED,
    offenders_table,
    per_partition,
    percent,
)
from loyalty_sync.defs.checks.config import TierAnomaliesConfig
from loyalty_sync.defs.resources import WarehouseResource
from loyalty_sync.warehouse.scope import PartitionScope

# Check name -> (Dagster severity, what it finds), from the one list of rules.
TIER_CHECKS: dict[str, tuple[dg.AssetCheckSeverity, str]] = {
    name: (dg.AssetCheckSeverity(rule.severity.value), rule.what)
    for name, rule in TIER_RULES.items()
}


def _finding_result(
    finding: Finding, severity: dg.AssetCheckSeverity, what: str, sample: int
) -> dg.AssetCheckResult:
    counted = f"{finding.count} of {finding.judged} customer program rows"
    return dg.AssetCheckResult(
        asset_key="loyalty_program_details",
        check_name=finding.rule,
        passed=finding.passed,
        severity=severity,
        description=f"{counted} ({percent(finding.share)}): {what}",
        metadata={
            "offending_rows": finding.count,
            "rows_judged": finding.judged,
            "share": dg.MetadataValue.float(round(finding.share, 4)),
            "offenders": dg.MetadataValue.json([o.as_json() for o in finding.offenders]),
            "sample": dg.MetadataValue.md(
                offenders_table(finding.offenders, sample, finding.count)
            ),
        },
    )


@dg.multi_asset_check(
    name="tier_anomalies",
    description="Impossible (ERROR) and suspicious (WARN) tier states, one query per rule.",
    specs=[
        dg.AssetCheckSpec(
            name,
            asset="loyalty_program_details",
            description=f"{'Impossible' if sev == ERROR else 'Suspicious'}: {what}.",
            additional_deps=["tier_history"] if name == "downgrade_before_expiry" else None,
            partitions_def=PARTITIONED,
        )
        for name, (sev, what) in TIER_CHECKS.items()
    ],
    op_tags=AFTER_THE_PASSES,
)
def tier_anomalies(
    context: dg.AssetCheckExecutionContext,
    config: TierAnomaliesConfig,
    warehouse: WarehouseResource,
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    engine = warehouse.get_engine()

    def judge(scope: PartitionScope) -> list[dg.AssetCheckResult]:
        with engine.connect() as conn:
            findings = tier_findings(
                conn,
                scope,
                points_tolerance=Decimal(str(config.points_tolerance)),
                expiry_grace=timedelta(hours=config.expiry_grace_hours),
            )
        return [
            _finding_result(findings[name], severity, what, config.sample_rows)
            for name, (severity, what) in TIER_CHECKS.items()
        ]

    yield from per_partition(context, judge)
