"""Planner statistics kept fresh by the sync itself.

Autovacuum analyses a table once a share of it changed, but on its own schedule: a first
sync writes a million rows in minutes, and the next pass plans its queries on statistics
of an empty table. So a pass that rewrote a large share of a table (or wrote to a table
never analysed, or a small one, where it costs nothing) analyses it before the next pass
plans. ANALYZE reads a fixed sample (300 x the statistics target rows), so its cost does
not grow with the table.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from loyalty_sync.warehouse import tables

# A table rewritten in more than this share since it was last analysed is analysed again.
STALE_SHARE = 0.1
# Below this many rows a table is analysed whenever it was written: it costs nothing.
SMALL_TABLE_ROWS = 1_000


def _estimated_rows(conn: sa.Connection, name: str) -> float:
    """pg_class's row estimate: -1 for a table never analysed nor vacuumed."""
    rows = conn.scalar(
        sa.text(
            "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relname = :name"
        ),
        {"schema": tables.SCHEMA, "name": name},
    )
    return -1.0 if rows is None else float(rows)


def is_stale(estimated_rows: float, written: int) -> bool:
    """Whether a table of `estimated_rows` (-1: never analysed) needs ANALYZE after `written`."""
    if written <= 0:
        return False
    if estimated_rows < SMALL_TABLE_ROWS:
        return True
    return written > STALE_SHARE * estimated_rows


def refresh(engine: sa.Engine, written: Mapping[str, int]) -> list[str]:
    """ANALYZE the tables of `written` ({table: rows written}) whose statistics went stale.

    A table another session is analysing (or vacuuming) right now is skipped, not waited
    for: its statistics are being refreshed anyway. Returns the tables analysed.
    """
    analysed = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name, rows in written.items():
            if not is_stale(_estimated_rows(conn, name), rows):
                continue
            conn.execute(sa.text(f'ANALYZE (SKIP_LOCKED) {tables.SCHEMA}."{name}"'))
            analysed.append(name)
    return analysed
