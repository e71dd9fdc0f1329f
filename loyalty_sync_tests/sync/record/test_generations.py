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


def _finish_generation(engine: sa.Engine, run_id: str, passes: list[str] = PASSES) -> None:
    generation = generations.open_generation(engine, PARTS, run_id, passes, HOUR)
    for name in passes:
        generations.generation_pass_done(engine, generation, name)


def _now(engine: sa.Engine) -> datetime:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.now()))


def test_a_run_that_waited_behind_a_finished_generation_skips_its_passes(
    engine: sa.Engine,
) -> None:
    requested = _now(engine) - timedelta(seconds=1)
    _finish_generation(engine, "first")
    second = generations.open_generation(engine, PARTS, "second", PASSES, HOUR, requested)
    assert second.done == set(PASSES)
    assert second.previous_run == "first"
    assert second.done_by(_now(engine)) == "done by run first 0 min ago"


def test_a_run_asked_for_after_the_generation_ended_syncs_again(engine: sa.Engine) -> None:
    _finish_generation(engine, "first")
    later = generations.open_generation(engine, PARTS, "later", PASSES, HOUR, _now(engine))
    assert later.done == set()
    # Nor does a run that says nothing of when it was asked for (a full sync).
    _finish_generation(engine, "later")
    full = generations.open_generation(engine, PARTS, "full", PASSES, HOUR, None)
    assert full.done == set()


def test_a_finished_generation_of_fewer_passes_lends_those_and_the_rest_are_synced(
    engine: sa.Engine,
) -> None:
    requested = datetime.now(UTC) - timedelta(minutes=1)
    _finish_generation(engine, "lookups", ["customers"])
    second = generations.open_generation(engine, PARTS, "second", PASSES, HOUR, requested)
    assert second.done == {"customers"}
    for name in ("promotions", "benefits"):
        generations.generation_pass_done(engine, second, name)
    # Its generation finished with the lent pass counted: a third run waiting behind it
    # skips everything.
    third = generations.open_generation(engine, PARTS, "third", PASSES, HOUR, requested)
    assert (third.done, third.previous_run) == (set(PASSES), "second")
