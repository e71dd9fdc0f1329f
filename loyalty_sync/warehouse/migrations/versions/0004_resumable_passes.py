"""Resumable passes: per-pass checkpoints, deletes held until a pass completes, and
which passes of a sync have finished.

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "sync_runs",
        sa.Column("passes", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="capillary",
    )
    op.create_table(
        "sync_checkpoints",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("pass_name", sa.Text(), nullable=False),
        sa.Column("org_id", sa.BigInteger(), nullable=False),
        sa.Column("programs", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cursor", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("failed", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("served", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("items_done", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pass_name", "org_id", "programs", name="uq_sync_checkpoints_pass"),
        schema="capillary",
        comment="Where each pass over an org's programs stands: resumed after a kill or failure.",
    )
    op.create_table(
        "sync_pending_deletes",
        sa.Column("checkpoint_id", sa.BigInteger(), nullable=False),
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("row_key", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("checkpoint_id", "table_name", "row_key"),
        schema="capillary",
        comment="Rows a pass found no longer served, deleted only once the whole pass completed.",
    )


def downgrade() -> None:
    op.drop_table("sync_pending_deletes", schema="capillary")
    op.drop_table("sync_checkpoints", schema="capillary")
    op.drop_column("sync_runs", "passes", schema="capillary")
