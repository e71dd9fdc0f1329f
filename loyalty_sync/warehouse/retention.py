"""Retention: api_events pruned by time, their counts kept by day in api_event_days.

Every sync appends its warnings and errors; at a million members that is about a hundred
MiB a day, and a log nobody prunes outgrows the data it describes. Events older than the
retention are deleted at the end of a sync, a batch per transaction (short locks, a
bounded share of the sync's time: what a sync leaves, the next one carries on), each
batch first counted into `api_event_days` by day, partition, endpoint, kind and code in
the same statement, so the counts stay whatever was pruned.

Time is the events' own clock: `occurred_at` is Capillary's time of the answer, so the
retention is measured from the newest event stored (or the warehouse's clock, if later),
which keeps it right when Capillary's clock runs ahead of this host's.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from loyalty_sync.warehouse import tables

BATCH_ROWS = 5_000
MAX_BATCHES = 200  # a million rows a sync at most

_PRUNE = sa.text(
    f"""
    WITH pruned AS (
        DELETE FROM {tables.SCHEMA}.api_events WHERE id IN (
            SELECT id FROM {tables.SCHEMA}.api_events
            WHERE occurred_at < :cutoff ORDER BY occurred_at LIMIT :batch)
        RETURNING occurred_at, org_id, partition_key, endpoint, kind, code
    ), counted AS (
        INSERT INTO {tables.SCHEMA}.api_event_days AS d
            (day, org_id, partition_key, endpoint, kind, code, events)
        SELECT (occurred_at AT TIME ZONE 'UTC')::date, coalesce(org_id, 0),
               coalesce(partition_key, ''), coalesce(endpoint, ''), coalesce(kind, ''),
               coalesce(code, 0), count(*)
        FROM pruned GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (day, org_id, partition_key, endpoint, kind, code)
        DO UPDATE SET events = d.events + EXCLUDED.events
    )
    SELECT count(*) FROM pruned
    """
)


def event_clock(conn: sa.Connection) -> datetime:
    """Now, as the events tell it: the newest `occurred_at`, or the database's now if later."""
    t = tables.api_events
    newest = conn.scalar(sa.select(sa.func.max(t.c.occurred_at)))
    now = conn.scalar(sa.select(sa.func.now()))
    return max(newest, now) if newest is not None else now


def prune_events(
    engine: sa.Engine,
    retention_days: int,
    *,
    batch: int = BATCH_ROWS,
    max_batches: int = MAX_BATCHES,
) -> int:
    """Delete api_events older than `retention_days`, counting them by day first; how many."""
    with engine.connect() as conn:
        cutoff = event_clock(conn) - timedelta(days=retention_days)
    pruned = 0
    for _ in range(max_batches):
        with engine.begin() as conn:
            done = int(conn.scalar(_PRUNE, {"cutoff": cutoff, "batch": batch}) or 0)
        pruned += done
        if done < batch:
            break
    return pruned
