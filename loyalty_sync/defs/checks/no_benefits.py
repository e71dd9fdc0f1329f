"""`no_benefits_share` on benefit_summaries: how often actionSummary answered 8116."""

from collections.abc import Iterator, Sequence

import dagster as dg

from loyalty_sync.checks.no_benefits import NoBenefitsReport, PromotionShare, no_benefits_report
from loyalty_sync.defs.checks.common import (
    AFTER_THE_PASSES,
    PARTITIONED,
    WARN,
    offenders_table,
    per_partition,
    percent,
)
from loyalty_sync.defs.checks.config import NoBenefitsConfig
from loyalty_sync.defs.metadata import markdown_table
from loyalty_sync.defs.resources import WarehouseResource
from loyalty_sync.warehouse.scope import PartitionScope


def _promotion_table(promotions: Sequence[PromotionShare], limit: int) -> str:
    return markdown_table(
        ["program", "promotion", "name", "summaries", "8116", "share"],
        [
            [p.program_id, p.promotion_id, p.name, p.summaries, p.no_benefits, percent(p.share)]
            for p in promotions
        ],
        limit=limit,
    )


def _no_benefits_description(report: NoBenefitsReport) -> str:
    text = (
        f"{report.no_benefits} of {report.summaries} summaries were 8116 "
        f"({percent(report.share)}, threshold {percent(report.max_share)})"
    )
    if report.misconfigured:
        ids = ", ".join(str(p.promotion_id) for p in report.misconfigured)
        text += f"; every enrolled holder got 8116 in active promotion(s) {ids}"
    if report.over_threshold:
        text += f"; {len(report.over_threshold)} promotion(s) above the threshold"
    return text


@dg.asset_check(
    asset="benefit_summaries",
    name="no_benefits_share",
    description="Share of summaries answered 8116 (no benefits earned), overall and per "
    "promotion; names active promotions where every enrolled holder got 8116. Judged per "
    "partition.",
    op_tags=AFTER_THE_PASSES,
    partitions_def=PARTITIONED,
)
def no_benefits_share(
    context: dg.AssetCheckExecutionContext,
    config: NoBenefitsConfig,
    warehouse: WarehouseResource,
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    engine = warehouse.get_engine()

    def judge(scope: PartitionScope) -> list[dg.AssetCheckResult]:
        with engine.connect() as conn:
            report = no_benefits_report(
                conn,
                scope,
                max_share=config.max_share,
                min_summaries_per_promotion=config.min_summaries_per_promotion,
                min_customers_misconfigured=config.min_customers_misconfigured,
            )
        return [_no_benefits_result(report, config)]

    yield from per_partition(context, judge)


def _no_benefits_result(report: NoBenefitsReport, config: NoBenefitsConfig) -> dg.AssetCheckResult:
    by_share = sorted(report.promotions, key=lambda p: (-p.share, -p.summaries, p.promotion_id))
    return dg.AssetCheckResult(
        passed=report.passed,
        severity=WARN,
        description=_no_benefits_description(report),
        metadata={
            "summaries": report.summaries,
            "no_benefits_8116": report.no_benefits,
            "share": dg.MetadataValue.float(round(report.share, 4)),
            "max_share": dg.MetadataValue.float(config.max_share),
            "promotions_judged": len(report.promotions),
            "misconfigured_promotions": dg.MetadataValue.md(
                _promotion_table(report.misconfigured, 50)
            ),
            "misconfigured_promotion_ids": dg.MetadataValue.json(
                [p.as_json() for p in report.misconfigured]
            ),
            "promotions_over_threshold": dg.MetadataValue.json(
                [p.as_json() for p in report.over_threshold]
            ),
            "shares_by_promotion": dg.MetadataValue.md(_promotion_table(by_share, 20)),
            "sample": dg.MetadataValue.md(
                offenders_table(report.offenders, config.sample_rows, report.no_benefits)
            ),
        },
    )
