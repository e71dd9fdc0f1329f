"""Change-driven syncs over HTTP and a real PostgreSQL: what a sync asks for, and why.

Each test starts from a warehouse synced once (everything new, so everything fetched)
and changes the simulator through its admin routes before syncing again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from capillary_simulator import SimulatorConfig, start_simulator
from capillary_simulator.server import RunningSimulator
from loyalty_sync.cli.sync_runner import SyncSummary, run_sync
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.roster import import_roster

CONFIG = SimulatorConfig(
    seed=11,
    orgs=1,
    customers_per_org=30,
    programs_per_org=(2,),
    promotions_per_program=8,
    holders_share=0.4,
    unknown_roster_rows=0,
)
PROMOTION_DATA = "/v2.1/customers/lookup/promotionData"
LOOKUP = "/v2/customers/lookup/customerDetails"


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    with start_simulator(CONFIG) as running:
        yield running


@pytest.fixture
def synced(
    simulator: RunningSimulator,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> tuple[RunningSimulator, sa.Engine]:
    for name, value in simulator.client_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CAPILLARY_RATE_LIMIT_PER_MINUTE", "600000")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    roster = tmp_path / "roster.csv"
    roster.write_text(simulator.roster_csv())
    import_roster(engine, roster)
    first = run_sync(show_progress=False)
    assert first.success, [r.error for r in first.runs]
    return simulator, engine


def _sync(simulator: RunningSimulator, **options: Any) -> tuple[SyncSummary, dict[str, int]]:
    simulator.reset_counters()
    summary = run_sync(show_progress=False, **options)
    assert summary.success, [r.error for r in summary.runs]
    return summary, simulator.counters()["requests_by_endpoint"]


def _action_summaries(calls: dict[str, int]) -> int:
    return sum(n for path, n in calls.items() if "actionSummary" in path)


def _written(summary: SyncSummary) -> int:
    return sum(
        c["inserted"] + c["updated"] + c["deleted"]
        for name, c in summary.changes.items()
        if name not in ("sync_runs", "api_events")
    )


def test_a_second_sync_the_same_day_looks_customers_up_and_nothing_else(synced) -> None:
    simulator, _ = synced
    summary, calls = _sync(simulator)
    assert calls.get(LOOKUP) == CONFIG.customers_per_org
    assert PROMOTION_DATA not in calls
    assert _action_summaries(calls) == 0
    assert _written(summary) == 0
    assert summary.signals["promotions"]["skipped"] == CONFIG.customers_per_org
    assert summary.signals["benefits"]["skipped"] > 0


def test_a_tier_move_refetches_that_customer_only(synced) -> None:
    simulator, engine = synced
    customer = simulator.dataset.customers(51135)[4]
    program = customer.memberships[0]
    top = simulator.dataset.program(program.program_id).top_serial
    serial = program.slab_serial + 1 if program.slab_serial < top else 1
    simulator.set_tier(51135, customer.customer_id, program.program_id, serial)
    summary, calls = _sync(simulator)
    assert calls.get(PROMOTION_DATA) == 1
    fetched = summary.signals["promotions"]["fetched"]
    assert fetched == {"lookup_changed": 1}
    t = tables.loyalty_program_details
    with engine.connect() as conn:
        stored = conn.scalar(
            sa.select(t.c.slab_sno).where(
                t.c.customer_id == customer.customer_id, t.c.program_id == program.program_id
            )
        )
    assert stored == serial


def test_a_full_sync_fetches_everything_and_writes_nothing_new(synced) -> None:
    simulator, _ = synced
    summary, calls = _sync(simulator, full=True)
    assert calls.get(PROMOTION_DATA, 0) >= CONFIG.customers_per_org
    assert summary.signals["promotions"]["fetched"] == {"full": CONFIG.customers_per_org}
    assert summary.signals["promotions"]["skipped"] == 0
    assert _action_summaries(calls) == summary.signals["benefits"]["items"]
    assert _written(summary) == 0
