"""Generations: which passes a run may skip because another run of its partitions did them.

Against the real warehouse schema; no API calls: the decisions are the ledger's alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from loyalty_sync.sync.ledger import generation_pass_done, open_generation
from loyalty_sync.sync.scope import PartitionScope

PARTITIONS = PartitionScope.from_keys(["51135-2568", "51135-2569"])
PASSES = ("customers", "promotions", "benefits")
WINDOW = timedelta(hours=12)


def _finish(engine: sa.Engine, run_id: str, passes: tuple[str, ...] = PASSES) -> None:
    generation = open_generation(engine, PARTITIONS, run_id, passes, WINDOW)
    for name in passes:
        generation_pass_done(engine, generation, name)


def _now(engine: sa.Engine) -> datetime:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.now()))


def test_a_run_that_waited_behind_a_finished_generation_skips_its_passes(
    engine: sa.Engine,
) -> None:
    requested = _now(engine) - timedelta(seconds=1)
    _finish(engine, "first")
    second = open_generation(engine, PARTITIONS, "second", PASSES, WINDOW, requested)
    assert second.done == set(PASSES)
    assert second.previous_run == "first"
    assert second.done_by(_now(engine)) == "done by run first 0 min ago"


def test_a_run_asked_for_after_the_generation_ended_syncs_again(engine: sa.Engine) -> None:
    _finish(engine, "first")
    later = open_generation(engine, PARTITIONS, "later", PASSES, WINDOW, _now(engine))
    assert later.done == set()
    # Nor does a run that says nothing of when it was asked for (a full sync).
    _finish(engine, "later")
    full = open_generation(engine, PARTITIONS, "full", PASSES, WINDOW, None)
    assert full.done == set()


def test_a_finished_generation_of_fewer_passes_lends_those_and_the_rest_are_synced(
    engine: sa.Engine,
) -> None:
    requested = datetime.now(UTC) - timedelta(minutes=1)
    _finish(engine, "lookups", ("customers",))
    second = open_generation(engine, PARTITIONS, "second", PASSES, WINDOW, requested)
    assert second.done == {"customers"}
    for name in ("promotions", "benefits"):
        generation_pass_done(engine, second, name)
    # Its generation finished with the lent pass counted: a third run waiting behind it
    # skips everything.
    third = open_generation(engine, PARTITIONS, "third", PASSES, WINDOW, requested)
    assert (third.done, third.previous_run) == (set(PASSES), "second")
