"""Where one pass over one org's programs stands, carried from run to run.

A pass commits in chunks, each with its checkpoint on the same transaction: rows and
position commit together, so a rerun after a kill or a failure resumes where the last
committed chunk left off. The deletes a pass finds are held back (`sync_pending_deletes`)
until the whole pass has completed.

Clock: `started_at` and `updated_at` are the warehouse's `now()`, so a checkpoint's age
is judged by the clock that wrote it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from loyalty_sync.sync.record.model import RowTally, SyncStatus, tally_from_json, tally_json
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope


@dataclass
class Checkpoint:
    """Where one pass over one org's programs stands.

    `cursor` is the sort key of the last item a committed chunk finished: a resumed pass
    asks for the items after it. `failed` are items set aside because their calls failed
    after every retry; the next run takes them first. `served` counts the rows the pass
    has served so far, per table and partition, across the runs that worked on it, so a
    resumed pass reports what the whole pass served, not what its last run did.
    """

    id: int
    pass_name: str
    partitions: PartitionScope
    resumed: bool
    cursor: list[Any] | None = None
    failed: list[list[Any]] = field(default_factory=list)
    served: RowTally = field(default_factory=Counter)
    items_done: int = 0


def programs_text(partitions: PartitionScope) -> str:
    return ",".join(str(program) for _, program in partitions)


def checkpoint_key(pass_name: str, partitions: PartitionScope) -> dict[str, Any]:
    """The columns naming one pass over one org's programs (unique together)."""
    (org_id,) = partitions.orgs
    return {"pass_name": pass_name, "org_id": org_id, "programs": programs_text(partitions)}


def locked_row(
    conn: sa.Connection, pass_name: str, partitions: PartitionScope, run_id: str
) -> tuple[sa.Row[Any], datetime]:
    """The checkpoint row of `pass_name` over `partitions`, created if new, locked for the
    transaction (two runs opening it at once take turns), and the database's now."""
    c = tables.sync_checkpoints
    key = checkpoint_key(pass_name, partitions)
    now = conn.scalar(sa.select(sa.func.now()))
    conn.execute(
        sa.dialects.postgresql.insert(c)
        .values(**key, status="new", run_id=run_id, started_at=now, updated_at=now)
        .on_conflict_do_nothing(constraint="uq_sync_checkpoints_pass")
    )
    row = conn.execute(
        sa.select(c).where(*(c.c[k] == v for k, v in key.items())).with_for_update()
    ).one()
    return row, now


def is_live(row: sa.Row[Any], now: datetime, max_age: timedelta) -> bool:
    """An unfinished checkpoint touched within `max_age`: its pass may be carried on."""
    fresh = row.updated_at is not None and row.updated_at >= now - max_age
    return row.status == SyncStatus.RUNNING.value and fresh


def open_checkpoint(
    engine: sa.Engine,
    pass_name: str,
    partitions: PartitionScope,
    run_id: str,
    max_age: timedelta,
) -> Checkpoint:
    """The pass's checkpoint: resumed when unfinished and touched within `max_age`.

    An older unfinished one (its data may have moved on too far to stitch together), a
    finished one or none at all starts the pass afresh, and drops deletes held back by an
    earlier generation of it.
    """
    with engine.begin() as conn:
        row, now = locked_row(conn, pass_name, partitions, run_id)
        if is_live(row, now, max_age):
            update(conn, row.id, run_id=run_id)
            return Checkpoint(
                row.id,
                pass_name,
                partitions,
                resumed=True,
                cursor=row.cursor,
                failed=list(row.failed or []),
                served=tally_from_json(row.served),
                items_done=int(row.items_done or 0),
            )
        _drop_pending_deletes(conn, row.id)
        afresh = {"cursor": None, "failed": [], "served": {}, "items_done": 0}
        update(conn, row.id, **restart_values(run_id, now), **afresh)
        return Checkpoint(row.id, pass_name, partitions, resumed=False)


def save_checkpoint(conn: sa.Connection, checkpoint: Checkpoint) -> None:
    """Store the checkpoint on the chunk's own transaction: rows and position commit together."""
    update(
        conn,
        checkpoint.id,
        cursor=checkpoint.cursor,
        failed=checkpoint.failed,
        served=tally_json(checkpoint.served),
        items_done=checkpoint.items_done,
        updated_at=sa.func.now(),
    )


def complete_checkpoint(conn: sa.Connection, checkpoint: Checkpoint) -> None:
    """Mark the pass complete (next run starts afresh) and drop its held-back deletes."""
    _drop_pending_deletes(conn, checkpoint.id)
    update(
        conn, checkpoint.id, status=SyncStatus.SUCCESS.value, updated_at=sa.func.now(), failed=[]
    )


def served_by(engine: sa.Engine, pass_name: str, partitions: PartitionScope) -> RowTally:
    """What a completed pass served, per table and partition (for a pass a rerun skips)."""
    c = tables.sync_checkpoints
    key = checkpoint_key(pass_name, partitions)
    with engine.connect() as conn:
        served = conn.scalar(sa.select(c.c.served).where(*(c.c[k] == v for k, v in key.items())))
    return tally_from_json(served)


def restart_values(run_id: str, now: datetime) -> dict[str, Any]:
    """The columns of a checkpoint that `run_id` starts afresh at `now`."""
    return {
        "status": SyncStatus.RUNNING.value,
        "run_id": run_id,
        "started_at": now,
        "updated_at": now,
    }


def update(conn: sa.Connection, checkpoint_id: int, **values: Any) -> None:
    """Set columns of one checkpoint row."""
    c = tables.sync_checkpoints
    conn.execute(sa.update(c).where(c.c.id == checkpoint_id).values(**values))


def _drop_pending_deletes(conn: sa.Connection, checkpoint_id: int) -> None:
    p = tables.sync_pending_deletes
    conn.execute(sa.delete(p).where(p.c.checkpoint_id == checkpoint_id))
