"""Closing `sync_runs` rows that no living run will ever close.

A pass opens a `running` row per partition and the run's last step (or a failing pass)
closes it. A run killed with SIGKILL, or lost with its machine, leaves the row at
`running` for good, and sync recency would read it as a sync still under way. Rows are
closed as `abandoned`, with the reason, when their run is known to be over (the caller
asks Dagster) or, for a run nobody here knows, when the row made no progress (its
`synced_at` moves at every pass) for `STALE_AFTER`.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from loyalty_sync.sync.record.model import SyncStatus
from loyalty_sync.warehouse import tables

# Longer than any pass makes no progress mark: a pass of a 100k-customer org at the
# default 100 requests a minute takes well under a day.
STALE_AFTER = timedelta(hours=24)
ABANDONED = SyncStatus.ABANDONED.value
RUNNING = SyncStatus.RUNNING.value


def running_run_ids(engine: sa.Engine) -> list[str]:
    t = tables.sync_runs
    with engine.connect() as conn:
        return list(conn.scalars(sa.select(t.c.run_id).where(t.c.status == RUNNING).distinct()))


def abandon(engine: sa.Engine, run_ids: list[str], reason: str) -> int:
    """Close the `running` rows of `run_ids` as abandoned; return how many."""
    if not run_ids:
        return 0
    t = tables.sync_runs
    with engine.begin() as conn:
        return conn.execute(
            sa.update(t)
            .where(t.c.run_id.in_(run_ids), t.c.status == RUNNING)
            .values(status=ABANDONED, finished_at=sa.func.now(), error=reason)
        ).rowcount


def abandon_stale(engine: sa.Engine, after: timedelta = STALE_AFTER) -> int:
    """Close `running` rows whose run made no progress for `after`, whoever ran them."""
    t = tables.sync_runs
    with engine.begin() as conn:
        return conn.execute(
            sa.update(t)
            .where(t.c.status == RUNNING, t.c.synced_at < sa.func.now() - after)
            .values(
                status=ABANDONED,
                finished_at=sa.func.now(),
                error=f"no progress for {after}: the run is taken to be lost",
            )
        ).rowcount
