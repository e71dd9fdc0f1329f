"""Event retention: api_events pruned by time, their counts kept by day.

Revision ID: 0008
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = "capillary"


def upgrade() -> None:
    op.create_index(
        "ix_api_events_occurred", "api_events", ["occurred_at"], unique=False, schema=SCHEMA
    )
    op.create_table(
        "api_event_days",
        sa.Column("day", sa.Date(), nullable=False, comment="UTC day the events occurred on."),
        sa.Column(
            "org_id",
            sa.BigInteger(),
            nullable=False,
            comment="Capillary organisation (brand) id; with program_id it names the partition.",
        ),
        sa.Column(
            "partition_key",
            sa.Text(),
            nullable=False,
            comment="ORG-PROGRAM partition of the events; '' when org-level.",
        ),
        sa.Column("endpoint", sa.Text(), nullable=False, comment="The endpoint called."),
        sa.Column("kind", sa.Text(), nullable=False, comment="warning or error."),
        sa.Column(
            "code",
            sa.Integer(),
            nullable=False,
            comment="Capillary warning or error code; 0 when the events carried none.",
        ),
        sa.Column(
            "events", sa.BigInteger(), nullable=False, comment="How many events of the kind."
        ),
        sa.PrimaryKeyConstraint("day", "org_id", "partition_key", "endpoint", "kind", "code"),
        schema=SCHEMA,
        comment="Daily counts of the api_events rows pruned past their retention, by kind.",
    )


def downgrade() -> None:
    op.drop_table("api_event_days", schema=SCHEMA)
    op.drop_index("ix_api_events_occurred", table_name="api_events", schema=SCHEMA)
