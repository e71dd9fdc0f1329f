"""Sync recency and row-count drops per partition, judged from `sync_runs`.

`sync_runs` holds one row per partition per sync with how it ended and how many rows each
pass served, so both questions are answered from it rather than from Dagster's event log:
- recency: when did each partition last finish a successful sync?
- drops: how many rows did this sync serve for a table, against the previous sync that
  served that table for the partition? "Previous" is the latest earlier sync that
  recorded the table, whatever its final status: the pass committed those rows, so they
  are what the table held. A run stopped by a blocking check therefore becomes the
  baseline, and re-running it after a look accepts a drop that was genuine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from loyalty_sync.sync.ledger import SyncStatus
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope

# Default ages of a stale partition (a daily schedule plus slack) and an overdue one (three
# missed days); the assets' FreshnessPolicy uses the same.
WARN_AFTER_HOURS = 26.0
ERROR_AFTER_HOURS = 72.0


@dataclass(frozen=True)
class PartitionRecency:
    """When a partition last synced successfully, and how its latest sync ended."""

    partition_key: str
    last_success_at: datetime | None
    latest_status: str | None
    latest_started_at: datetime | None
    now: datetime

    @property
    def age_hours(self) -> float | None:
        if self.last_success_at is None:
            return None
        return (self.now - self.last_success_at).total_seconds() / 3600

    def older_than(self, hours: float) -> bool:
        """True when the last success is older than `hours`, or there never was one."""
        age = self.age_hours
        return age is None or age > hours


def partition_recency(conn: sa.Connection, scope: PartitionScope) -> list[PartitionRecency]:
    """How recently each partition of `scope` synced, in key order (never: no success)."""
    s = tables.sync_runs
    chosen = scope.keys
    if not chosen:
        return []
    now = conn.scalar(sa.select(sa.func.now()))
    last_success = dict(
        conn.execute(
            sa.select(s.c.partition_key, sa.func.max(s.c.finished_at))
            .where(scope.where(s), s.c.status == SyncStatus.SUCCESS.value)
            .group_by(s.c.partition_key)
        ).all()
    )
    latest = {
        row.partition_key: row
        for row in conn.execute(
            sa.select(s.c.partition_key, s.c.status, s.c.started_at)
            .where(scope.where(s))
            .order_by(s.c.partition_key, s.c.started_at.desc(), s.c.run_id)
            .distinct(s.c.partition_key)
        )
    }
    return [
        PartitionRecency(
            key,
            last_success.get(key),
            latest[key].status if key in latest else None,
            latest[key].started_at if key in latest else None,
            now,
        )
        for key in chosen
    ]


@dataclass(frozen=True)
class RowCountChange:
    """Rows a sync served for one table of one partition, against the previous sync's."""

    partition_key: str
    table: str
    run_id: str | None
    rows: int | None
    previous_run_id: str | None
    previous_rows: int | None

    @property
    def drop_share(self) -> float:
        """Share of the previous rows that are gone; 0 when rows grew or nothing compares."""
        if not self.previous_rows or self.rows is None:
            return 0.0
        return max(0.0, (self.previous_rows - self.rows) / self.previous_rows)


def row_count_changes(
    conn: sa.Connection, table: str, scope: PartitionScope, run_id: str | None = None
) -> list[RowCountChange]:
    """The current and previous row counts of `table` for each partition of `scope`.

    Current is `run_id`'s sync when it covered the partition (a table it did not record
    served no rows), otherwise the latest sync that recorded the table.
    """
    if not scope.keys:
        return []
    own = _own_counts(conn, table, scope, run_id or "")
    recorded = _latest_two(conn, table, scope, run_id or "")
    return [_change(key, table, run_id, own.get(key), recorded.get(key, [])) for key in scope.keys]


def _rows_of(table: str) -> sa.ColumnElement[int]:
    """`sync_runs.rows[table]` as a number: the rows the sync served for `table`."""
    return tables.sync_runs.c.rows[table].astext.cast(sa.BigInteger)


def _own_counts(
    conn: sa.Connection, table: str, scope: PartitionScope, run_id: str
) -> dict[str, sa.Row[Any]]:
    s = tables.sync_runs
    query = sa.select(s.c.partition_key, s.c.started_at, _rows_of(table).label("n")).where(
        s.c.run_id == run_id, scope.where(s)
    )
    return {row.partition_key: row for row in conn.execute(query)}


def _latest_two(
    conn: sa.Connection, table: str, scope: PartitionScope, run_id: str
) -> dict[str, list[sa.Row[Any]]]:
    """Per partition, the two latest other syncs that recorded `table`, newest first, that
    started no later than `run_id`'s own sync of the partition."""
    s = tables.sync_runs
    own_start = (
        sa.select(s.c.partition_key, s.c.started_at).where(s.c.run_id == run_id).subquery("own")
    )
    rank = sa.func.row_number().over(
        partition_by=s.c.partition_key, order_by=(s.c.started_at.desc(), s.c.run_id)
    )
    ranked = (
        sa.select(s.c.partition_key, s.c.run_id, _rows_of(table).label("n"), rank.label("rank"))
        .select_from(s.outerjoin(own_start, own_start.c.partition_key == s.c.partition_key))
        .where(
            scope.where(s),
            s.c.rows[table].is_not(None),
            s.c.run_id != run_id,
            sa.or_(own_start.c.started_at.is_(None), s.c.started_at <= own_start.c.started_at),
        )
        .subquery("ranked")
    )
    recorded: dict[str, list[sa.Row[Any]]] = {}
    query = sa.select(ranked).where(ranked.c.rank <= 2)
    for row in conn.execute(query.order_by(ranked.c.partition_key, ranked.c.rank)):
        recorded.setdefault(row.partition_key, []).append(row)
    return recorded


def _change(
    key: str,
    table: str,
    run_id: str | None,
    own: sa.Row[Any] | None,
    history: list[sa.Row[Any]],
) -> RowCountChange:
    """Current: the run's own sync, else the latest recorded; previous: the one before."""
    current: tuple[str | None, int | None]
    if own is not None:
        current, earlier = (run_id, int(own.n or 0)), history
    elif history:
        current, earlier = (history[0].run_id, int(history[0].n or 0)), history[1:]
    else:
        current, earlier = (None, None), []
    previous = earlier[0] if earlier else None
    return RowCountChange(
        key,
        table,
        *current,
        previous.run_id if previous else None,
        int(previous.n or 0) if previous else None,
    )


def synced_partitions(conn: sa.Connection) -> PartitionScope:
    """Every partition sync_runs has seen: the fallback when Dagster knows none."""
    s = tables.sync_runs
    return PartitionScope.of(
        conn.execute(sa.select(s.c.org_id, s.c.program_id).distinct()).tuples()
    )
