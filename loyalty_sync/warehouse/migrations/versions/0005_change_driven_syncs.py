"""Change-driven syncs: when each item was last fetched, and what each sync's signals did.

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

SIGNALS = (
    "Per pass: items fetched by reason, skipped, sampled and found changed, and calls made "
    "against a full sync's."
)


def upgrade() -> None:
    op.add_column(
        "sync_runs",
        sa.Column(
            "signals", postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment=SIGNALS
        ),
        schema="capillary",
    )
    op.create_table(
        "sync_item_state",
        sa.Column(
            "org_id",
            sa.BigInteger(),
            nullable=False,
            comment="Capillary organisation (brand) id; with program_id it names the partition.",
        ),
        sa.Column(
            "pass_name",
            sa.Text(),
            nullable=False,
            comment="The pass that fetched the item: promotions or benefits.",
        ),
        sa.Column(
            "customer_id",
            sa.BigInteger(),
            nullable=False,
            comment="Capillary customer id (the customer's `id`, entityId in v3).",
        ),
        sa.Column(
            "program_id",
            sa.BigInteger(),
            nullable=False,
            comment="Loyalty program id of a customer/promotion pair; 0 for a customer.",
        ),
        sa.Column(
            "promotion_id",
            sa.BigInteger(),
            nullable=False,
            comment="Promotion id of a customer/promotion pair; 0 for a customer.",
        ),
        sa.Column(
            "fetched_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the item was last fetched, by Capillary's clock (its Date header).",
        ),
        sa.Column(
            "checked_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When its answer was written, by the warehouse's clock (compared with "
            "synced_at).",
        ),
        sa.Column(
            "signature",
            sa.Text(),
            nullable=True,
            comment="MD5 of the rows the answer mapped to: a re-fetch compares it.",
        ),
        sa.PrimaryKeyConstraint("org_id", "pass_name", "customer_id", "program_id", "promotion_id"),
        schema="capillary",
        comment="When each customer and pair was last fetched: what a change-driven sync skips.",
    )


def downgrade() -> None:
    op.drop_table("sync_item_state", schema="capillary")
    op.drop_column("sync_runs", "signals", schema="capillary")
