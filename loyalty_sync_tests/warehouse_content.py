"""A warehouse's data as comparable sets: what two syncs of one state must agree on."""

from __future__ import annotations

import sqlalchemy as sa

from loyalty_sync.warehouse import tables

DATA_TABLES = [t for t in tables.CONTRACT_TABLES if t.name not in ("sync_runs", "api_events")]
# When or by which run a row was written, and the raw payload: not the data itself.
WRITE_COLUMNS = {"synced_at", "run_id", "valid_from", "raw"}


def content(engine: sa.Engine, org_id: int | None = None) -> dict[str, set[tuple[str, ...]]]:
    """Every data table's rows (of one org, if given) without the columns of the write."""
    with engine.connect() as conn:
        return {
            table.name: {
                tuple(map(str, row))
                for row in conn.execute(
                    sa.select(*(c for c in table.columns if c.name not in WRITE_COLUMNS)).where(
                        sa.true() if org_id is None else table.c.org_id == org_id
                    )
                )
            }
            for table in DATA_TABLES
        }
