"""Each timestamp column says which clock it holds.

A reader comparing `sync_runs.started_at` with `finished_at`, or an event's time with a
row's `synced_at`, needs to know these come from different clocks (the host's, the
warehouse's, Capillary's). No value changes: only the comments, copied literally (a
revision is a snapshot, see 0002).

Revision ID: 0009
Revises: 0008
"""

# ruff: noqa: E501  (a snapshot of comment texts, kept one per line as tables.py has them)

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SCHEMA = "capillary"

WRITTEN = (
    "api_events",
    "benefit_alternate_currencies",
    "benefit_incentives",
    "benefit_points",
    "benefit_summaries",
    "customer_promotions",
    "customer_roster",
    "customers",
    "loyalty_program_details",
    "promotion_performance",
    "promotions",
    "tier_history",
)
SYNCED_AT_BEFORE = "When this row's values last changed (a re-sync with equal values keeps it)."
SYNCED_AT_AFTER = (
    "When this row's values last changed (a re-sync with equal values keeps it); warehouse clock."
)

# (table, column) -> (comment before, comment after)
COMMENTS: dict[tuple[str, str], tuple[str, str]] = {
    ("api_events", "occurred_at"): (
        "When the API answered with this code.",
        "When the API answered with this code (a guard's warning: when it judged); Capillary's clock as believed, else the local clock.",
    ),
    ("tier_history", "valid_from"): (
        "When the sync that first saw this tier ran.",
        "When the sync that first saw this tier started; local clock of the host that ran it.",
    ),
    ("sync_runs", "started_at"): (
        "When the run started syncing the partition.",
        "When the run started syncing the partition; local clock of the host that ran it.",
    ),
    ("sync_runs", "finished_at"): (
        "When the run finished it (success or failure); null while running.",
        "When the run finished it (success, failure or abandoned); null while running; warehouse clock.",
    ),
    ("sync_runs", "status"): (
        "running, success or failed.",
        "running, success, failed or abandoned.",
    ),
    ("sync_runs", "synced_at"): (
        "When this row was last written.",
        "When this row was last written (its progress mark); warehouse clock.",
    ),
    ("sync_checkpoints", "started_at"): (
        "When the pass started, in the run that first worked on it.",
        "When the pass started, in the run that first worked on it; warehouse clock.",
    ),
    ("sync_checkpoints", "updated_at"): (
        "When a chunk last committed (a running pass older than this is stale).",
        "When a chunk last committed (a running pass older than this is stale); warehouse clock.",
    ),
    ("api_rate_limits", "tat"): (
        "Theoretical arrival time: the next free request slot (GCRA).",
        "Theoretical arrival time: the next free request slot (GCRA); warehouse clock.",
    ),
    ("sync_source", "adopted_at"): (
        "When this source was taken on.",
        "When this source was taken on; local clock.",
    ),
}


def _comment(table: str, column: str, text: str) -> None:
    quoted = text.replace("'", "''")
    op.execute(f"COMMENT ON COLUMN {SCHEMA}.{table}.{column} IS '{quoted}'")


def upgrade() -> None:
    for table in WRITTEN:
        _comment(table, "synced_at", SYNCED_AT_AFTER)
    for (table, column), (_, after) in COMMENTS.items():
        _comment(table, column, after)


def downgrade() -> None:
    for table in WRITTEN:
        _comment(table, "synced_at", SYNCED_AT_BEFORE)
    for (table, column), (before, _) in COMMENTS.items():
        _comment(table, column, before)
