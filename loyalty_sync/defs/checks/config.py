"""Thresholds of the asset checks: Dagster run config of each check's op, defaults here.

Set them in the launchpad (or a job's run config) under the check's op, e.g.
`ops: {benefit_summaries_no_benefits_share: {config: {max_share: 0.6}}}`. The defaults
suit a daily sync; every field says what it changes.
"""

import dagster as dg
from pydantic import Field

from loyalty_sync.checks.sync_health import ERROR_AFTER_HOURS, WARN_AFTER_HOURS


class NoBenefitsConfig(dg.Config):
    """Thresholds of `benefit_summaries/no_benefits_share`."""

    max_share: float = Field(
        default=0.5,
        description="WARN when more than this share of summaries (overall, or of one promotion "
        "with enough summaries) came back 8116.",
    )
    min_summaries_per_promotion: int = Field(
        default=20,
        description="A promotion's own share is judged only from this many summaries up.",
    )
    min_customers_misconfigured: int = Field(
        default=3,
        description="An active promotion is named misconfigured when at least this many "
        "enrolled holders all got 8116.",
    )
    sample_rows: int = Field(default=10, description="Rows shown in markdown samples.")


class TierAnomaliesConfig(dg.Config):
    """Tolerances of the seven tier checks on `loyalty_program_details`."""

    points_tolerance: float = Field(
        default=0.0,
        description="Allowed difference between totalAvailablePoints and "
        "loyaltyPoints + delayedPoints.",
    )
    expiry_grace_hours: float = Field(
        default=24.0,
        description="How long past slabExpiryDate a tier may still show before it counts as "
        "kept (Capillary's tier jobs run in batches).",
    )
    sample_rows: int = Field(default=10, description="Rows shown in markdown samples.")


class PartitionsFreshConfig(dg.Config):
    """Ages of `api_events/partitions_fresh`, in hours since a partition's last success."""

    warn_after_hours: float = Field(
        default=WARN_AFTER_HOURS,
        description="WARN for a partition whose last successful sync is older than this "
        "(a daily schedule plus slack), or that never synced.",
    )
    error_after_hours: float = Field(
        default=ERROR_AFTER_HOURS,
        description="ERROR for a partition whose last success is older than this.",
    )


class RowCountDropConfig(dg.Config):
    """Thresholds of each table's `row_count_drop` check."""

    max_drop_share: float = Field(
        default=0.2,
        description="Fail when a partition lost more than this share of its rows against "
        "the previous sync.",
    )
    min_previous_rows: int = Field(
        default=10,
        description="Partitions that had fewer rows are reported but not judged: a few rows "
        "coming and going is not a signal.",
    )


class DriftConfig(dg.Config):
    """Thresholds of each `change_signal_drift` check."""

    max_share: float = Field(
        default=0.05,
        description="WARN when more than this share of the sampled skipped items had changed.",
    )
    min_sampled: int = Field(
        default=20,
        description="Judge only from this many sampled items up; fewer are reported.",
    )
