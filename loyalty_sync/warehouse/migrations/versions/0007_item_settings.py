"""The settings each item was fetched under, so a change of them makes the item due, and
the held deletes that such a change makes (a replacement, not a drop).

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

SETTINGS = (
    "The settings that shaped the stored rows (e.g. actionSummary v3 or v2); an item "
    "fetched under other settings is due again."
)
SETTINGS_CHANGED = (
    "The row's item was fetched under other settings: the row is replaced, not dropped, "
    "and the drop guard does not count it."
)


def upgrade() -> None:
    # Items fetched before this revision have none recorded: unknown, not a reason to
    # fetch every item at once; their next fetch records them.
    op.add_column(
        "sync_item_state",
        sa.Column("settings", sa.Text(), nullable=True, comment=SETTINGS),
        schema="capillary",
    )
    op.add_column(
        "sync_pending_deletes",
        sa.Column(
            "settings_changed",
            sa.Boolean(),
            server_default=sa.false(),
            nullable=False,
            comment=SETTINGS_CHANGED,
        ),
        schema="capillary",
    )


def downgrade() -> None:
    op.drop_column("sync_pending_deletes", "settings_changed", schema="capillary")
    op.drop_column("sync_item_state", "settings", schema="capillary")
