"""Initial warehouse schema: every table of the contract, plus the rate limiter state.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 21:20:49.087005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("endpoint", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("org_id", sa.BigInteger(), nullable=True),
        sa.Column("program_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("promotion_id", sa.BigInteger(), nullable=True),
        sa.Column("partition_key", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="capillary",
        comment="Every warning and error code the API answered, with its context.",
    )
    op.create_index(
        "ix_api_events_code", "api_events", ["code", "org_id"], unique=False, schema="capillary"
    )
    op.create_index("ix_api_events_run", "api_events", ["run_id"], unique=False, schema="capillary")
    op.create_table(
        "api_rate_limits",
        sa.Column("api_key_hash", sa.Text(), nullable=False),
        sa.Column("tat", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("api_key_hash"),
        schema="capillary",
        comment="Shared rate limiter state: the next free request slot per API key.",
    )
    op.create_table(
        "benefit_alternate_currencies",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("promotion_id", sa.BigInteger(), nullable=False),
        sa.Column("currency_name", sa.Text(), nullable=False),
        sa.Column("currency_type", sa.Text(), nullable=False),
        sa.Column("total_issued", sa.Numeric(), nullable=True),
        sa.Column("number_of_times_issued", sa.BigInteger(), nullable=True),
        sa.Column("last_issued_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "program_id", "customer_id", "promotion_id", "currency_name", "currency_type"
        ),
        schema="capillary",
        comment="Alternate currency issued; v3 gives totals per currency (currency_type 'ALL').",
    )
    op.create_table(
        "benefit_incentives",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("promotion_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("action_id", sa.Text(), nullable=False),
        sa.Column("activity_id", sa.Text(), nullable=False),
        sa.Column("action_issued_count", sa.BigInteger(), nullable=True),
        sa.Column("last_issued_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id",
            "program_id",
            "customer_id",
            "promotion_id",
            "action",
            "action_id",
            "activity_id",
        ),
        schema="capillary",
        comment="v3 incentives; v2 rewards (REWARD) and badges (BADGES). activity_id '' when none.",
    )
    op.create_table(
        "benefit_points",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("promotion_id", sa.BigInteger(), nullable=False),
        sa.Column("points_category", sa.Text(), nullable=False),
        sa.Column("total_points_issued", sa.Numeric(), nullable=True),
        sa.Column("number_of_times_issued", sa.BigInteger(), nullable=True),
        sa.Column("last_issued_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id", "program_id", "customer_id", "promotion_id", "points_category"
        ),
        schema="capillary",
        comment="Points issued by a promotion to a customer, by category (actionSummary points).",
    )
    op.create_table(
        "benefit_summaries",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("promotion_id", sa.BigInteger(), nullable=False),
        sa.Column("api_version", sa.Text(), nullable=True),
        sa.Column("promotion_identifier", sa.Text(), nullable=True),
        sa.Column("warning_code", sa.Integer(), nullable=True),
        sa.Column("warning_message", sa.Text(), nullable=True),
        sa.Column("no_benefits", sa.Boolean(), nullable=False),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "program_id", "customer_id", "promotion_id"),
        schema="capillary",
        comment="One actionSummary per customer and promotion; warning_code 8116 when no benefit.",
    )
    op.create_table(
        "customer_promotions",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("promotion_id", sa.BigInteger(), nullable=False),
        sa.Column("current_points_per_customer", sa.Numeric(), nullable=True),
        sa.Column("current_number_of_times_per_customer", sa.Numeric(), nullable=True),
        sa.Column("current_total_points_in_promotion", sa.Numeric(), nullable=True),
        sa.Column("issual_restrictions", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("earn_restrictions", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "redemption_restrictions", postgresql.JSONB(astext_type=sa.Text()), nullable=True
        ),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "program_id", "customer_id", "promotion_id"),
        schema="capillary",
        comment="A customer's usage of and restrictions in a promotion, from promotionData.",
    )
    op.create_table(
        "customer_roster",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("identifier_name", sa.Text(), nullable=False),
        sa.Column("identifier_value", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("lookup_status", sa.Text(), nullable=True),
        sa.Column("looked_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "source", "identifier_name", "identifier_value"),
        schema="capillary",
        comment="Customer identifiers to sync, imported from CSV; customer_id is filled by lookup.",
    )
    op.create_index(
        "ix_customer_roster_customer",
        "customer_roster",
        ["org_id", "customer_id"],
        unique=False,
        schema="capillary",
    )
    op.create_table(
        "customers",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("account_id", sa.Text(), nullable=True),
        sa.Column("mobile", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("card_number", sa.Text(), nullable=True),
        sa.Column("created_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("modified_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("loyalty_type", sa.Text(), nullable=True),
        sa.Column("lifetime_purchases", sa.Numeric(), nullable=True),
        sa.Column("loyalty_create_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("associated_with", sa.Text(), nullable=True),
        sa.Column("extended_fields", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "customer_id"),
        schema="capillary",
        comment="Customer profiles from /v2/customers/lookup/customerDetails.",
    )
    op.create_table(
        "loyalty_program_details",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("loyalty_id", sa.BigInteger(), nullable=True),
        sa.Column("current_slab", sa.Text(), nullable=True),
        sa.Column("current_slab_description", sa.Text(), nullable=True),
        sa.Column("slab_sno", sa.Integer(), nullable=True),
        sa.Column("slab_expiry_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_slab", sa.Text(), nullable=True),
        sa.Column("next_slab_serial_number", sa.Integer(), nullable=True),
        sa.Column("next_slab_description", sa.Text(), nullable=True),
        sa.Column("redeemed", sa.Numeric(), nullable=True),
        sa.Column("expired", sa.Numeric(), nullable=True),
        sa.Column("returned", sa.Numeric(), nullable=True),
        sa.Column("adjusted", sa.Numeric(), nullable=True),
        sa.Column("lifetime_points", sa.Numeric(), nullable=True),
        sa.Column("loyalty_points", sa.Numeric(), nullable=True),
        sa.Column("cumulative_purchases", sa.Numeric(), nullable=True),
        sa.Column("delayed_points", sa.Numeric(), nullable=True),
        sa.Column("delayed_returned_points", sa.Numeric(), nullable=True),
        sa.Column("delayed_expired_points", sa.Numeric(), nullable=True),
        sa.Column("total_available_points", sa.Numeric(), nullable=True),
        sa.Column("total_returned_points", sa.Numeric(), nullable=True),
        sa.Column("program_title", sa.Text(), nullable=True),
        sa.Column("program_description", sa.Text(), nullable=True),
        sa.Column("program_points_to_currency_ratio", sa.Numeric(), nullable=True),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "program_id", "customer_id"),
        schema="capillary",
        comment="Per-program points and tier of each customer (loyaltyProgramDetails).",
    )
    op.create_table(
        "promotions",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("promotion_id", sa.BigInteger(), nullable=False),
        sa.Column("promotion_name", sa.Text(), nullable=True),
        sa.Column("identifier", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("start_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.Column("event_name", sa.Text(), nullable=True),
        sa.Column("points_offer_type", sa.Text(), nullable=True),
        sa.Column("max_points_per_event", sa.Numeric(), nullable=True),
        sa.Column("points_per_customer", sa.Numeric(), nullable=True),
        sa.Column("number_of_times_per_customer", sa.Numeric(), nullable=True),
        sa.Column("total_points_in_promotion", sa.Numeric(), nullable=True),
        sa.Column("promotion_metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_modified_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "program_id", "promotion_id"),
        schema="capillary",
        comment="Promotions: promotionData, with status and dates from /v3/promotions.",
    )
    op.create_table(
        "sync_runs",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("partition_key", sa.Text(), nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("rows", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("api_calls", sa.Integer(), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("warnings", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "partition_key"),
        schema="capillary",
        comment="One row per partition per sync: what freshness is judged by.",
    )
    op.create_index(
        "ix_sync_runs_partition",
        "sync_runs",
        ["partition_key", "finished_at"],
        unique=False,
        schema="capillary",
    )
    op.create_table(
        "tier_history",
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slab_sno", sa.Integer(), nullable=True),
        sa.Column("current_slab", sa.Text(), nullable=True),
        sa.Column("slab_expiry_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_slab_sno", sa.Integer(), nullable=True),
        sa.Column("previous_slab", sa.Text(), nullable=True),
        sa.Column("previous_slab_expiry_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "program_id", "customer_id", "valid_from"),
        schema="capillary",
        comment="Each tier a customer was seen in, from the sync that first saw it.",
    )


def downgrade() -> None:
    op.drop_table("tier_history", schema="capillary")
    op.drop_index("ix_sync_runs_partition", table_name="sync_runs", schema="capillary")
    op.drop_table("sync_runs", schema="capillary")
    op.drop_table("promotions", schema="capillary")
    op.drop_table("loyalty_program_details", schema="capillary")
    op.drop_table("customers", schema="capillary")
    op.drop_index("ix_customer_roster_customer", table_name="customer_roster", schema="capillary")
    op.drop_table("customer_roster", schema="capillary")
    op.drop_table("customer_promotions", schema="capillary")
    op.drop_table("benefit_summaries", schema="capillary")
    op.drop_table("benefit_points", schema="capillary")
    op.drop_table("benefit_incentives", schema="capillary")
    op.drop_table("benefit_alternate_currencies", schema="capillary")
    op.drop_table("api_rate_limits", schema="capillary")
    op.drop_index("ix_api_events_run", table_name="api_events", schema="capillary")
    op.drop_index("ix_api_events_code", table_name="api_events", schema="capillary")
    op.drop_table("api_events", schema="capillary")
