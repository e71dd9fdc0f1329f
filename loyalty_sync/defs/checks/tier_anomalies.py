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
    judged_keys,
    judged_scope,
    offenders_table,
    percent,
)
from loyalty_sync.defs.checks.config import TierAnomaliesConfig
from loyalty_sync.defs.resources import WarehouseResource

# Check name -> (Dagster severity, what it finds), from the one list of rules.
TIER_CHECKS: dict[str, tuple[dg.AssetCheckSeverity, str]] = {
    name: (dg.AssetCheckSeverity(rule.severity.value), rule.what)
    for name, rule in TIER_RULES.items()
}


def _finding_result(
    finding: Finding, severity: dg.AssetCheckSeverity, what: str, keys: list[str], sample: int
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
            "by_partition": dg.MetadataValue.json(dict(finding.by_partition)),
            "offenders": dg.MetadataValue.json([o.as_json() for o in finding.offenders]),
            "sample": dg.MetadataValue.md(
                offenders_table(finding.offenders, sample, finding.count)
            ),
            "partitions": ", ".join(keys),
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
        )
        for name, (sev, what) in TIER_CHECKS.items()
    ],
    op_tags=AFTER_THE_PASSES,
)
def tier_anomalies(
    context: dg.AssetCheckExecutionContext,
    config: TierAnomaliesConfig,
    warehouse: WarehouseResource,
) -> Iterator[dg.AssetCheckResult]:
    keys = judged_keys(context)
    with warehouse.get_engine().connect() as conn:
        findings = tier_findings(
            conn,
            judged_scope(context, keys),
            points_tolerance=Decimal(str(config.points_tolerance)),
            expiry_grace=timedelta(hours=config.expiry_grace_hours),
        )
    for name, (severity, what) in TIER_CHECKS.items():
        yield _finding_result(findings[name], severity, what, keys, config.sample_rows)
