"""A pass's checkpoint: resumed while live, started afresh once finished or stale."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from loyalty_sync.sync.record import checkpoints
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope

PARTS = PartitionScope.from_keys(["51135-2568", "51135-2569"])
HOUR = timedelta(hours=1)


def _open(engine: sa.Engine, run_id: str, max_age: timedelta = HOUR) -> checkpoints.Checkpoint:
    return checkpoints.open_checkpoint(engine, "benefits", PARTS, run_id, max_age)


def _hold_a_delete(engine: sa.Engine, checkpoint_id: int) -> None:
    p = tables.sync_pending_deletes
    with engine.begin() as conn:
        conn.execute(
            sa.insert(p).values(checkpoint_id=checkpoint_id, table_name="customers", row_key={})
        )


def _held(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(tables.sync_pending_deletes)))


def test_a_killed_pass_resumes_where_its_last_chunk_committed(engine: sa.Engine) -> None:
    first = _open(engine, "run-1")
    assert not first.resumed and first.cursor is None
    first.cursor, first.failed, first.items_done = [51135, 7], [[9]], 12
    first.served[("benefit_summaries", "51135-2568")] += 30
    with engine.begin() as conn:
        checkpoints.save_checkpoint(conn, first)
    again = _open(engine, "run-2")
    assert again.resumed and again.id == first.id
    assert (again.cursor, again.failed, again.items_done) == ([51135, 7], [[9]], 12)
    assert again.served == Counter({("benefit_summaries", "51135-2568"): 30})


def test_a_completed_pass_serves_its_figures_and_starts_afresh(engine: sa.Engine) -> None:
    done = _open(engine, "run-1")
    done.served[("benefit_summaries", "51135-2569")] = 4
    _hold_a_delete(engine, done.id)
    with engine.begin() as conn:
        checkpoints.save_checkpoint(conn, done)
        checkpoints.complete_checkpoint(conn, done)
    assert _held(engine) == 0
    assert checkpoints.served_by(engine, "benefits", PARTS) == done.served
    afresh = _open(engine, "run-2")
    assert not afresh.resumed and afresh.served == Counter()


def test_a_stale_pass_starts_afresh_and_drops_what_it_held_back(engine: sa.Engine) -> None:
    stale = _open(engine, "run-1")
    _hold_a_delete(engine, stale.id)
    afresh = _open(engine, "run-2", max_age=timedelta(0))
    assert not afresh.resumed and afresh.id == stale.id
    assert _held(engine) == 0
