"""The warehouse remembers its source: `sync_source`, one row naming API host and orgs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_source",
        sa.Column(
            "id", sa.SmallInteger(), nullable=False, comment="Always 1: the table holds one row."
        ),
        sa.Column(
            "api_host", sa.Text(), nullable=False, comment="Capillary API base URL synced from."
        ),
        sa.Column(
            "simulator",
            sa.Boolean(),
            nullable=False,
            comment="True when the data came from the bundled simulator (its port is not kept).",
        ),
        sa.Column(
            "own_org_id", sa.BigInteger(), nullable=False, comment="The credential's own org."
        ),
        sa.Column(
            "org_ids",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="Every org id synced, own org first.",
        ),
        sa.Column(
            "adopted_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When this source was taken on.",
        ),
        sa.Column(
            "adopted_by",
            sa.Text(),
            nullable=True,
            comment="What took it on: first sync, or `source adopt`.",
        ),
        sa.CheckConstraint("id = 1", name="ck_sync_source_one_row"),
        sa.PrimaryKeyConstraint("id"),
        schema="capillary",
        comment="Where this warehouse's data comes from (one row; never a secret).",
    )


def downgrade() -> None:
    op.drop_table("sync_source", schema="capillary")
