"""api_events pruned past their retention, their counts kept by day; over simulated days
through real syncs, the log stays bounded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from loyalty_sync.cli.sync_runner import run_sync
from loyalty_sync.settings import EVENT_RETENTION_ENV
from loyalty_sync.warehouse import retention, tables
from loyalty_sync.warehouse.database import DATABASE_URL_ENV
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.factories import preset, serve_simulator
from loyalty_sync_tests.simulated_clock import follow, local_clock_following

EVENTS = tables.api_events
DAYS = tables.api_event_days


def _counts(engine: sa.Engine) -> tuple[int, int]:
    """(events stored, events counted by day)."""
    with engine.connect() as conn:
        stored = conn.scalar(sa.select(sa.func.count()).select_from(EVENTS)) or 0
        counted = conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(DAYS.c.events), 0))) or 0
    return int(stored), int(counted)


def test_old_events_are_counted_by_day_then_deleted_in_batches(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO capillary.api_events (occurred_at, endpoint, code, kind, org_id, "
                "partition_key, synced_at, run_id) "
                "SELECT now() - make_interval(days => d), 'action_summary_v3', 8116, "
                "'warning', 1, '1-2', now(), 'r' "
                "FROM generate_series(0, 29) d, generate_series(1, 10) n"
            )
        )
    # Days 7 to 29 (day 7 is older than 7 days by the time the prune reads the clock),
    # in 6 batches.
    assert retention.prune_events(engine, 7, batch=40) == 230
    assert _counts(engine) == (70, 230)
    with engine.connect() as conn:
        days = conn.execute(sa.select(DAYS.c.code, DAYS.c.partition_key, DAYS.c.events)).all()
    assert len(days) == 23
    assert {(code, key) for code, key, _ in days} == {(8116, "1-2")}
    assert retention.prune_events(engine, 7) == 0


CONFIG = preset("retention")


@pytest.fixture
def sync_env(
    server_admin_url: str, template_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[sa.Engine, object]]:
    with serve_simulator(CONFIG) as simulator:
        url = new_database(server_admin_url)
        engine = sa.create_engine(url)
        for name, value in {
            **simulator.client_environment(),
            DATABASE_URL_ENV: url,
            "CAPILLARY_RATE_LIMIT_PER_MINUTE": "600000",
            "DAGSTER_HOME": str(tmp_path / "dagster"),
            EVENT_RETENTION_ENV: "7",
        }.items():
            monkeypatch.setenv(name, value)
        roster = tmp_path / "roster.csv"
        roster.write_text(simulator.roster_csv())
        import_roster(engine, roster)
        try:
            yield engine, simulator
        finally:
            engine.dispose()


@pytest.mark.slow  # thirty simulated days of syncs
def test_api_events_stay_bounded_over_thirty_simulated_days(sync_env) -> None:  # type: ignore[no-untyped-def]
    engine, simulator = sync_env
    written = []
    for day in range(0, 31, 10):
        if day:
            simulator.advance(10, churn=0.05)
        follow(simulator)  # events are dated by the (simulated) days the syncs see
        before = sum(_counts(engine))
        with local_clock_following():
            summary = run_sync(show_progress=False)
        assert summary.success, [r.error for r in summary.runs]
        written.append(sum(_counts(engine)) - before)
    stored, counted = _counts(engine)
    assert written[-1] > 0  # every sync meets the roster's unknown customers (8015)
    assert stored == written[-1]  # only the last sync's events are within 7 days
    assert counted == sum(written[:-1])  # the others are counted by day, none lost
    with engine.connect() as conn:
        state = conn.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT (org_id, pass_name, customer_id, program_id, "
                "promotion_id)) FROM capillary.sync_item_state"
            )
        ).one()
    assert state[0] == state[1]  # one row per item, however many syncs fetched it
