"""api_events: stamped when the answer came, codes counted as they are added."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from loyalty_sync.capillary import clock
from loyalty_sync.sync.record.events import EventLog
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse import tables

SCOPE = RunScope.from_partition_keys("run-e", ["51135-2568", "51135-2569"])
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _stored(engine: sa.Engine) -> list[sa.Row]:
    e = tables.api_events
    with engine.connect() as conn:
        return conn.execute(
            sa.select(e.c.occurred_at, e.c.code, e.c.partition_key, e.c.run_id).order_by(e.c.id)
        ).all()


def test_each_event_is_stamped_when_it_is_met_not_at_the_steps_start(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    scope = RunScope.from_partition_keys("run-e", SCOPE.partition_keys)
    met = [LONG_AGO + timedelta(hours=1), LONG_AGO + timedelta(hours=2)]
    times = iter(met)
    monkeypatch.setattr(clock, "local_now", lambda: next(times))
    with engine.begin() as conn:
        events = EventLog(conn, scope)
        events.add(endpoint="a", code=None, kind="warning", message="x", org_id=51135)
        events.add(endpoint="b", code=None, kind="warning", message="y", org_id=51135)
        events.flush()
    assert [row.occurred_at for row in _stored(engine)] == met
    assert scope.started_at not in met


def test_a_chunks_log_carries_the_time_its_answers_came(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        events = EventLog(conn, SCOPE, occurred_at=LONG_AGO)
        events.add(endpoint="lookup", code=8015, kind="error", message="m", org_id=51135)
        events.flush()
    assert [row.occurred_at for row in _stored(engine)] == [LONG_AGO]


def test_codes_are_counted_by_partition_and_undone_with_a_savepoint(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        events = EventLog(conn, SCOPE)
        events.add(
            endpoint="actionSummary",
            code=8116,
            kind="warning",
            message=None,
            org_id=51135,
            program_id=2568,
        )
        events.add(endpoint="lookup", code=8015, kind="error", message=None, org_id=51135)
        mark = events.mark()
        events.add(endpoint="lookup", code=8015, kind="error", message=None, org_id=51135)
        events.undo(mark)
        events.flush()
    assert events.codes == {8116: 1, 8015: 1}
    assert events.placed == {(51135, "51135-2568", 8116): 1, (51135, None, 8015): 1}
    rows = _stored(engine)
    assert [(r.code, r.partition_key, r.run_id) for r in rows] == [
        (8116, "51135-2568", "run-e"),
        (8015, None, "run-e"),
    ]
