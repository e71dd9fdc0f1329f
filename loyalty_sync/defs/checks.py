"""Asset checks: they run in the `capillary_sync` run, after the asset they judge.

The blocking checks run right after their asset, since the next pass waits on them. The
others run once the API passes are done: a run executes one step at a time, and a check
querying the warehouse between two passes would leave the rate-limit budget idle.

Each check judges the partitions of its run (all known partitions when run on its own from
the UI), reads only the warehouse, and reports counts, shares and the offending rows as
metadata, so nobody needs SQL to act on a result. The rules themselves live in
`sync/anomalies.py`, `sync/no_benefits.py` and `sync/sync_health.py`.

| asset | check | severity | blocks |
|---|---|---|---|
| benefit_summaries | no_benefits_share | WARN | no |
| loyalty_program_details | negative_balances | ERROR | no |
| loyalty_program_details | available_points_sum | ERROR | no |
| loyalty_program_details | next_slab_serial | ERROR | no |
| loyalty_program_details | points_while_not_enrolled | ERROR | no |
| loyalty_program_details | downgrade_before_expiry | WARN | no |
| loyalty_program_details | tier_kept_past_expiry | WARN | no |
| loyalty_program_details | lifetime_below_current | WARN | no |
| api_events | partitions_fresh | WARN; ERROR when overdue | no |
| customers, loyalty_program_details | row_count_drop | ERROR | yes |
| customer_promotions, promotions, benefit_summaries | row_count_drop | WARN | no |

Why only the customers pass's drops block: that pass decides who exists for every later
one. The promotions pass walks the customers that were found, the benefits pass asks for
the enrolled customers in loyalty_program_details, and both then delete the partition's
rows that were not served again. A sudden drop there (a truncated roster, lookups lost to
an outage or a changed identifier source) would cascade into deleting the promotions and
benefits of customers who still have them; blocking keeps the last good downstream data
until someone has looked, and re-running accepts a genuine drop (see `sync_health.py`).
Drops further down usually follow an upstream one, already blocked once, or a change
Capillary made to its promotions; blocking them too would make one genuine drop block
once per pass, so they warn. Tier anomalies and 8116 shares describe Capillary's own data
faithfully copied: blocking would freeze every other customer's benefits without fixing
anything, so they are reported, ERROR for impossible states, WARN for suspicious ones.

Thresholds are run config of each check's op, e.g. in the launchpad:
`ops: {benefit_summaries_no_benefits_share: {config: {max_share: 0.6}}}`; op names are
`<asset>_<check>` and `tier_anomalies` for the seven tier checks.
"""

from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import dagster as dg

from loyalty_sync.defs.check_config import (
    FreshnessConfig,
    NoBenefitsConfig,
    RowCountDropConfig,
    TierAnomaliesConfig,
)
from loyalty_sync.defs.jobs import PRIORITY_TAG
from loyalty_sync.defs.metadata import markdown_table
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.defs.resources import WarehouseResource
from loyalty_sync.sync import anomalies, sync_health
from loyalty_sync.sync.findings import Finding, Offender, Pair, format_value
from loyalty_sync.sync.no_benefits import NoBenefitsReport, PromotionShare, no_benefits_report
from loyalty_sync.sync.scope import parse_partition_key
from loyalty_sync.warehouse import tables

# Op tags of the checks that gate nothing: a lower priority than the passes' default 0, so
# a run executes them once no API pass is ready (see the module docstring).
AFTER_THE_PASSES = {PRIORITY_TAG: "-1"}
WARN = dg.AssetCheckSeverity.WARN
ERROR = dg.AssetCheckSeverity.ERROR


def judged_keys(context: dg.AssetCheckExecutionContext) -> list[str]:
    """The run's partition keys (one or a range); every known partition without any."""
    op = context.op_execution_context
    if op.has_partition_key or op.has_partition_key_range:
        return list(op.partition_keys)
    return list(context.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))


def _pairs(keys: Sequence[str]) -> list[Pair]:
    return [parse_partition_key(k) for k in keys]


def _percent(share: float) -> str:
    return f"{share * 100:.1f} %"


# --- benefit summaries: 8116 ---------------------------------------------------------------


def _promotion_table(promotions: Sequence[PromotionShare], limit: int) -> str:
    return markdown_table(
        ["program", "promotion", "name", "summaries", "8116", "share"],
        [
            [p.program_id, p.promotion_id, p.name, p.summaries, p.no_benefits, _percent(p.share)]
            for p in promotions
        ],
        limit=limit,
    )


def _offenders_table(offenders: Sequence[Offender], limit: int, total: int) -> str:
    """The first `limit` offenders as `customer | program | promotion | values`."""
    return markdown_table(
        ["customer", "program", "promotion", "values"],
        [
            [
                o.customer_id,
                o.program_id,
                o.promotion_id,
                ", ".join(f"{k}={format_value(v)}" for k, v in o.values.items()),
            ]
            for o in offenders
        ],
        limit=limit,
        total=total,
    )


def _no_benefits_description(report: NoBenefitsReport) -> str:
    text = (
        f"{report.no_benefits} of {report.summaries} summaries were 8116 "
        f"({_percent(report.share)}, threshold {_percent(report.max_share)})"
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
    "promotion; names active promotions where every enrolled holder got 8116.",
    op_tags=AFTER_THE_PASSES,
)
def no_benefits_share(
    context: dg.AssetCheckExecutionContext,
    config: NoBenefitsConfig,
    warehouse: WarehouseResource,
) -> dg.AssetCheckResult:
    keys = judged_keys(context)
    with warehouse.get_engine().connect() as conn:
        report = no_benefits_report(
            conn,
            _pairs(keys),
            max_share=config.max_share,
            min_summaries_per_promotion=config.min_summaries_per_promotion,
            min_customers_misconfigured=config.min_customers_misconfigured,
        )
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
                _offenders_table(report.offenders, config.sample_rows, report.no_benefits)
            ),
            "partitions": ", ".join(keys),
        },
    )


# --- loyalty_program_details: tier anomalies -------------------------------------------------

TIER_CHECKS: dict[str, tuple[dg.AssetCheckSeverity, str]] = {
    "negative_balances": (ERROR, "loyalty, delayed, available or lifetime points below zero"),
    "available_points_sum": (ERROR, "totalAvailablePoints is not loyaltyPoints + delayedPoints"),
    "next_slab_serial": (
        ERROR,
        "nextSlabSerialNumber is not slabSNo + 1 (-1 only at the top tier)",
    ),
    "points_while_not_enrolled": (ERROR, "points held with loyaltyId -1 (not enrolled)"),
    "downgrade_before_expiry": (
        WARN,
        "tier lowered since the previous sync before the old tier's slabExpiryDate",
    ),
    "tier_kept_past_expiry": (WARN, "tier above the base still held after its slabExpiryDate"),
    "lifetime_below_current": (WARN, "lifetime points lower than current loyalty points"),
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
        description=f"{counted} ({_percent(finding.share)}): {what}",
        metadata={
            "offending_rows": finding.count,
            "rows_judged": finding.judged,
            "share": dg.MetadataValue.float(round(finding.share, 4)),
            "by_partition": dg.MetadataValue.json(dict(finding.by_partition)),
            "offenders": dg.MetadataValue.json([o.as_json() for o in finding.offenders]),
            "sample": dg.MetadataValue.md(
                _offenders_table(finding.offenders, sample, finding.count)
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
        findings = anomalies.tier_findings(
            conn,
            _pairs(keys),
            points_tolerance=Decimal(str(config.points_tolerance)),
            expiry_grace=timedelta(hours=config.expiry_grace_hours),
        )
    for name, (severity, what) in TIER_CHECKS.items():
        yield _finding_result(findings[name], severity, what, keys, config.sample_rows)


# --- freshness of every partition ----------------------------------------------------------


def _freshness_table(rows: Sequence[sync_health.PartitionFreshness]) -> str:
    return markdown_table(
        ["partition", "program", "last success", "age (h)", "latest sync"],
        [
            [
                r.partition_key,
                parse_partition_key(r.partition_key)[1],
                format_value(r.last_success_at) or "",
                "never" if r.age_hours is None else f"{r.age_hours:.1f}",
                r.latest_status or "none",
            ]
            for r in rows
        ],
    )


@dg.asset_check(
    asset="api_events",
    name="partitions_fresh",
    description="Every org/program partition finished a successful sync recently "
    "(from sync_runs): WARN when stale or never synced, ERROR when overdue.",
    op_tags=AFTER_THE_PASSES,
)
def partitions_fresh(
    context: dg.AssetCheckExecutionContext,
    config: FreshnessConfig,
    warehouse: WarehouseResource,
) -> dg.AssetCheckResult:
    with warehouse.get_engine().connect() as conn:
        keys = list(context.instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
        keys = keys or sync_health.synced_partitions(conn)
        rows = sync_health.partition_freshness(conn, keys)
    stale = [r for r in rows if r.older_than(config.warn_after_hours)]
    ages = [r.age_hours for r in rows if r.age_hours is not None]
    overdue = [r for r in stale if (r.age_hours or 0.0) > config.error_after_hours]
    return dg.AssetCheckResult(
        passed=not stale,
        severity=ERROR if overdue else WARN,
        description=(
            f"{len(stale)} of {len(rows)} partitions without a successful sync in "
            f"{config.warn_after_hours:g} h ({len(overdue)} over {config.error_after_hours:g} h)"
        ),
        metadata={
            "partitions_judged": len(rows),
            "stale_partitions": len(stale),
            "overdue_partitions": len(overdue),
            "share": dg.MetadataValue.float(round(len(stale) / len(rows), 4) if rows else 0.0),
            "oldest_success_age_hours": dg.MetadataValue.float(round(max(ages, default=0.0), 2)),
            "stale": dg.MetadataValue.md(_freshness_table(stale)),
            "stale_keys": dg.MetadataValue.json([r.partition_key for r in stale]),
        },
    )


# --- row-count drops against the previous sync ----------------------------------------------

# table -> does a failed check stop the passes downstream of it (see the module docstring)
DROP_CHECKED: dict[str, bool] = {
    tables.customers.name: True,
    tables.loyalty_program_details.name: True,
    tables.customer_promotions.name: False,
    tables.promotions.name: False,
    tables.benefit_summaries.name: False,
}


def _drop_table(changes: Sequence[sync_health.RowCountChange]) -> str:
    return markdown_table(
        ["partition", "previous rows", "rows", "drop", "previous run", "run"],
        [
            [
                c.partition_key,
                str(c.previous_rows),
                str(c.rows),
                _percent(c.drop_share),
                (c.previous_run_id or "")[:8],
                (c.run_id or "")[:8],
            ]
            for c in changes
        ],
    )


def _row_count_drop_check(table: str, blocking: bool) -> dg.AssetChecksDefinition:
    severity = ERROR if blocking else WARN

    @dg.asset_check(
        asset=table,
        name="row_count_drop",
        blocking=blocking,
        description=f"Rows of {table} per partition against the previous sync (sync_runs); "
        + ("ERROR, blocks the passes downstream." if blocking else "WARN."),
        op_tags=None if blocking else AFTER_THE_PASSES,
    )
    def row_count_drop(
        context: dg.AssetCheckExecutionContext,
        config: RowCountDropConfig,
        warehouse: WarehouseResource,
    ) -> dg.AssetCheckResult:
        keys = judged_keys(context)
        run_id = context.run.run_id
        engine = warehouse.get_engine()
        with engine.connect() as conn:
            changes = sync_health.row_count_changes(conn, table, keys, run_id)
        dropped = [
            c
            for c in changes
            if (c.previous_rows or 0) >= config.min_previous_rows
            and c.drop_share > config.max_drop_share
        ]
        description = (
            f"{len(dropped)} of {len(changes)} partitions lost more than "
            f"{_percent(config.max_drop_share)} of their {table} rows"
        )
        if dropped and blocking:
            reason = f"blocked by {table}/row_count_drop: {description}"
            with engine.begin() as conn:
                sync_health.mark_blocked(conn, run_id, keys, reason)
        return dg.AssetCheckResult(
            passed=not dropped,
            severity=severity,
            description=description,
            metadata={
                "partitions_judged": len(changes),
                "partitions_dropped": len(dropped),
                "max_drop_share_seen": dg.MetadataValue.float(
                    round(max((c.drop_share for c in changes), default=0.0), 4)
                ),
                "rows": sum(c.rows or 0 for c in changes),
                "previous_rows": sum(c.previous_rows or 0 for c in changes),
                "dropped": dg.MetadataValue.md(_drop_table(dropped)),
                "dropped_keys": dg.MetadataValue.json([c.partition_key for c in dropped]),
                "by_partition": dg.MetadataValue.md(_drop_table(changes)),
            },
        )

    return row_count_drop


row_count_drop_checks = [
    _row_count_drop_check(table, blocking) for table, blocking in DROP_CHECKED.items()
]

capillary_checks: list[Any] = [
    no_benefits_share,
    tier_anomalies,
    partitions_fresh,
    *row_count_drop_checks,
]
