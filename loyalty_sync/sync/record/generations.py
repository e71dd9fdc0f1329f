"""Sync generations: which passes of an interrupted sync of an org's programs are done.

A generation is one sync of an org's programs, across the runs it takes to finish. A run
that was killed or failed after some of its passes completed leaves its generation
unfinished; a rerun within the resume window carries it on and skips the passes it
already completed, so an interruption never costs a finished pass again. It is stored as
a `sync_checkpoints` row of pass `sync`, its cursor the `PassPlan`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from loyalty_sync.sync.record import checkpoints
from loyalty_sync.sync.record.model import PassPlan, SyncStatus
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope

SYNC_GENERATION = "sync"


@dataclass
class Generation:
    """One sync of an org's programs, as a run found it."""

    id: int
    done: set[str]
    resumed: bool
    # The run that carried the generation before this one, and when it last moved it.
    previous_run: str | None = None
    previous_at: datetime | None = None

    def done_by(self, now: datetime) -> str:
        """Who finished a pass this run skips: another run (killed, failed, or still going)."""
        if self.previous_at is None:
            return f"done by run {self.previous_run}"
        minutes = max(0, round((now - self.previous_at).total_seconds() / 60))
        return f"done by run {self.previous_run} {minutes} min ago"


def open_generation(
    engine: sa.Engine,
    partitions: PartitionScope,
    run_id: str,
    passes: Sequence[str],
    max_age: timedelta,
    requested_at: datetime | None = None,
) -> Generation:
    """This run's generation of `partitions`: carried on, finished for it, or started.

    The generation a live run left (or this run's own) is carried on. One another run
    finished after this run started (`requested_at`) is as fresh as this run asked for:
    a run that waited behind it for the partitions skips what it did rather than fetching
    it again minutes later. A full sync passes no `requested_at`, so it always fetches.
    """
    with engine.begin() as conn:
        row, now = checkpoints.locked_row(conn, SYNC_GENERATION, partitions, run_id)
        ours = row.status == SyncStatus.RUNNING.value and row.run_id == run_id
        if ours or checkpoints.is_live(row, now, max_age):
            done = PassPlan.from_generation_json(row.cursor).done & set(passes)
            plan = PassPlan(tuple(passes), done)
            cursor = plan.as_generation_json()
            checkpoints.update(conn, row.id, run_id=run_id, updated_at=now, cursor=cursor)
            resumed = row.run_id != run_id and bool(done)
            return Generation(row.id, done, resumed, row.run_id, row.updated_at)
        done = _finished_since(row, run_id, requested_at) & set(passes)
        if done >= set(passes):
            return Generation(row.id, done, True, row.run_id, row.updated_at)
        cursor = PassPlan(tuple(passes), done).as_generation_json()
        checkpoints.update(conn, row.id, **checkpoints.restart_values(run_id, now), cursor=cursor)
        return Generation(row.id, done, bool(done), row.run_id, row.updated_at)


def _finished_since(row: sa.Row[Any], run_id: str, requested_at: datetime | None) -> set[str]:
    """The passes of a generation another run finished after `requested_at`, if it did."""
    if (
        requested_at is None
        or row.status != SyncStatus.SUCCESS.value
        or row.run_id == run_id
        or row.updated_at is None
        or row.updated_at < requested_at
    ):
        return set()
    return PassPlan.from_generation_json(row.cursor).done


def generation_pass_done(engine: sa.Engine, generation: Generation, name: str) -> None:
    """Tick a pass off; the generation is finished once every pass it expects is done."""
    c = tables.sync_checkpoints
    with engine.begin() as conn:
        row = conn.execute(sa.select(c).where(c.c.id == generation.id).with_for_update()).one()
        plan = PassPlan.from_generation_json(row.cursor).tick(name)
        status = SyncStatus.SUCCESS.value if plan.finished else row.status
        cursor = plan.as_generation_json()
        checkpoints.update(conn, row.id, cursor=cursor, updated_at=sa.func.now(), status=status)
    generation.done.add(name)


def fail_generations(conn: sa.Connection, partitions: PartitionScope) -> None:
    """Someone should look before these syncs are carried on: their reruns start afresh."""
    c = tables.sync_checkpoints
    for org_id in partitions.orgs:
        key = checkpoints.checkpoint_key(SYNC_GENERATION, partitions.for_org(org_id))
        conn.execute(
            sa.update(c)
            .where(*(c.c[k] == v for k, v in key.items()))
            .values(status=SyncStatus.FAILED.value, updated_at=sa.func.now())
        )
