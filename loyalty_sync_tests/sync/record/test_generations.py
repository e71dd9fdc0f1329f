"""Sync generations: a rerun skips the passes an interrupted sync already finished."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from loyalty_sync.sync.record import generations
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope

PARTS = PartitionScope.from_keys(["51135-2568", "51135-2569"])
PASSES = ["customers", "promotions", "benefits"]
HOUR = timedelta(hours=1)


def _status(engine: sa.Engine, generation: generations.Generation) -> str:
    c = tables.sync_checkpoints
    with engine.connect() as conn:
        return str(conn.scalar(sa.select(c.c.status).where(c.c.id == generation.id)))


def test_a_rerun_carries_on_the_generation_a_killed_run_left(engine: sa.Engine) -> None:
    first = generations.open_generation(engine, PARTS, "run-1", PASSES, HOUR)
    assert first.done == set() and not first.resumed
    generations.generation_pass_done(engine, first, "customers")
    assert first.done == {"customers"}
    # The same run opening it again (its next pass) is not a resume.
    same = generations.open_generation(engine, PARTS, "run-1", PASSES, HOUR)
    assert same.done == {"customers"} and not same.resumed
    rerun = generations.open_generation(engine, PARTS, "run-2", PASSES, HOUR)
    assert rerun.resumed and rerun.done == {"customers"} and rerun.previous_run == "run-1"
    assert rerun.done_by(datetime.now(UTC)).startswith("done by run run-1 ")
    for name in ("promotions", "benefits"):
        generations.generation_pass_done(engine, rerun, name)
    assert _status(engine, rerun) == "success"
    after = generations.open_generation(engine, PARTS, "run-3", PASSES, HOUR)
    assert after.done == set() and not after.resumed


def test_a_stale_or_failed_generation_starts_afresh(engine: sa.Engine) -> None:
    first = generations.open_generation(engine, PARTS, "run-1", PASSES, HOUR)
    generations.generation_pass_done(engine, first, "customers")
    stale = generations.open_generation(engine, PARTS, "run-2", PASSES, timedelta(0))
    assert stale.done == set() and not stale.resumed
    generations.generation_pass_done(engine, stale, "customers")
    with engine.begin() as conn:
        generations.fail_generations(conn, PARTS)
    assert _status(engine, stale) == "failed"
    looked_at = generations.open_generation(engine, PARTS, "run-3", PASSES, HOUR)
    assert looked_at.done == set()
