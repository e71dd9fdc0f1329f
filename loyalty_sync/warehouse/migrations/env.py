"""Alembic environment: runs migrations on the connection handed in by `warehouse.migrate`.

An advisory lock serialises concurrent upgrades (webserver, daemon, run workers and the CLI
may all start at once on a fresh database).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from loyalty_sync.warehouse.tables import SCHEMA, metadata

MIGRATION_LOCK_ID = 7_215_301_001

config = context.config


def _include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    return not (type_ == "table" and name == "alembic_version")


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    connection.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=SCHEMA,
        include_schemas=True,
        include_object=_include_object,
        transaction_per_migration=False,
    )
    context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("loyalty_sync migrations run online only: use `loyalty-sync db upgrade`")
run_migrations_online()
