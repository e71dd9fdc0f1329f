"""A whole sync against the simulator over HTTP and a real PostgreSQL: no part mocked.

Runs go through `loyalty_sync.cli.sync_runner.run_sync`, i.e. the `capillary_sync` job executed
in process on a Dagster instance, exactly as `loyalty-sync sync` does.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from capillary_simulator.server import RunningSimulator
from loyalty_sync.cli.sync_runner import run_sync
from loyalty_sync.sync.passes import BENEFITS_CUTOFF
from loyalty_sync.warehouse import tables
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.factories import preset, serve_simulator
from loyalty_sync_tests.synced_warehouse import warehouse

# Two orgs; the home org has two programs. 60 promotions a program make heavy customers
# (who hold every promotion of their org) span two promotionData pages.
CONFIG = preset("paging_sync")

DATA_TABLES = [t for t in tables.CONTRACT_TABLES if t.name not in ("sync_runs", "api_events")]


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    with serve_simulator(CONFIG) as running:
        yield running


def _point_at(sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in sim.client_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CAPILLARY_RATE_LIMIT_PER_MINUTE", "600000")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))


def _import_roster(sim: RunningSimulator, engine: sa.Engine, tmp_path: Path) -> None:
    from loyalty_sync.warehouse.roster import import_roster

    path = tmp_path / "roster.csv"
    path.write_text(sim.roster_csv())
    import_roster(engine, path)


@pytest.fixture
def synced(
    simulator: RunningSimulator,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> tuple[RunningSimulator, sa.Engine, dict[str, Any]]:
    _point_at(simulator, monkeypatch, tmp_path)
    _import_roster(simulator, engine, tmp_path)
    simulator.reset_counters()
    summary = run_sync(show_progress=False)
    assert summary.success, [r.error for r in summary.runs]
    return simulator, engine, simulator.counters()


def _rows(engine: sa.Engine, table: sa.Table) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table).order_by(*table.primary_key.columns)))


def _found_customers(sim: RunningSimulator, engine: sa.Engine) -> list[Any]:
    t = tables.customer_roster
    with engine.connect() as conn:
        ids = conn.scalars(
            sa.select(t.c.customer_id).where(t.c.customer_id.is_not(None)).distinct()
        ).all()
    return [sim.dataset.customer_by_id(i) for i in ids]


def _requests(counters: dict[str, Any], fragment: str) -> int:
    return sum(n for route, n in counters["requests_by_endpoint"].items() if fragment in route)


def test_tables_hold_what_the_simulator_served(synced: Any) -> None:
    sim, engine, _ = synced
    dataset = sim.dataset
    customers = {row.customer_id: row for row in _rows(engine, tables.customers)}
    details = {
        (r.program_id, r.customer_id): r for r in _rows(engine, tables.loyalty_program_details)
    }
    held = {(r.customer_id, r.promotion_id): r for r in _rows(engine, tables.customer_promotions)}
    summaries = {
        (r.customer_id, r.promotion_id): r for r in _rows(engine, tables.benefit_summaries)
    }
    points = _rows(engine, tables.benefit_points)

    found = _found_customers(sim, engine)
    assert found and set(customers) == {c.customer_id for c in found}
    for customer in found:
        body = dataset.customer_details_body(customer, {"mlp"})
        row = customers[customer.customer_id]
        assert row.first_name == customer.first_name
        assert row.mobile == customer.mobile
        assert row.email == customer.email
        assert row.raw == {
            k: v for k, v in body.items() if k not in ("loyaltyProgramDetails", "warnings")
        }
        for served in body["loyaltyProgramDetails"]:
            stored = details[(served["programId"], customer.customer_id)]
            assert stored.raw == served
            assert stored.loyalty_id == served["loyaltyId"]
            assert stored.slab_sno == served["slabSNo"]
            assert stored.loyalty_points == Decimal(str(served["loyaltyPoints"]))
            assert stored.total_available_points == Decimal(str(served["totalAvailablePoints"]))
            assert stored.slab_expiry_date is not None and stored.slab_expiry_date.tzinfo
        promotions = dataset.held_promotions(customer.org_id, customer.customer_id)
        assert {k for k in held if k[0] == customer.customer_id} == {
            (customer.customer_id, p.promotion_id) for p in promotions
        }
        for promotion in promotions:
            membership = dataset.membership(customer, promotion.program_id)
            eligible = (
                membership is not None
                and membership.loyalty_id != -1
                and promotion.end_ms >= BENEFITS_CUTOFF.timestamp() * 1000
            )
            key = (customer.customer_id, promotion.promotion_id)
            assert (key in summaries) == eligible, (key, promotion.kind)
            if not eligible:
                continue
            served = dataset.action_summary_v3_body(customer, promotion)
            inner = served.get("data", served)
            codes = [w["code"] for w in inner.get("warnings") or []]
            assert summaries[key].no_benefits == (8116 in codes)
            assert summaries[key].warning_code == (codes[0] if codes else None)
            stored_points = {
                p.points_category: p.total_points_issued
                for p in points
                if (p.customer_id, p.promotion_id) == key
            }
            assert stored_points == {
                p["pointsCategory"]: Decimal(p["totalPointsIssued"])
                for p in inner.get("points", [])
            }


def test_call_economy(synced: Any) -> None:
    sim, engine, counters = synced
    with engine.connect() as conn:
        roster = conn.execute(sa.select(tables.customer_roster)).all()
    lookups = [r for r in roster if r.identifier_name != "id"]
    by_id = [r for r in roster if r.identifier_name == "id"]
    # One lookup per roster entry although the home org's run covers two programs.
    assert _requests(counters, "customerDetails") == len(lookups)
    assert _requests(counters, "loyaltyDetails") == len(by_id)
    # The 8015 customers are recorded once each and not retried.
    unknown = [r for r in roster if r.lookup_status == "not_found"]
    assert len(unknown) == CONFIG.unknown_roster_rows
    with engine.connect() as conn:
        events = conn.execute(
            sa.select(tables.api_events).where(tables.api_events.c.code == 8015)
        ).all()
    assert len(events) == len(unknown)
    assert counters["responses_by_status"].get("400", 0) == len(unknown)
    # actionSummary exactly for eligible pairs: none for promotions ended before 2025-06-12.
    assert _requests(counters, "actionSummary") == len(_rows(engine, tables.benefit_summaries))
    cutoff_ms = BENEFITS_CUTOFF.timestamp() * 1000
    ended = {
        p.promotion_id
        for org in sim.dataset.org_ids
        for p in sim.dataset.promotions(org)
        if p.end_ms < cutoff_ms
    }
    assert ended, "the simulator should serve promotions that ended before the cutoff"
    assert not {r.promotion_id for r in _rows(engine, tables.benefit_summaries)} & ended
    held_ended = {r.promotion_id for r in _rows(engine, tables.customer_promotions)} & ended
    assert held_ended, "some customer should hold a promotion that ended before the cutoff"


def test_customer_with_more_than_100_promotions(synced: Any) -> None:
    sim, engine, counters = synced
    t = tables.customer_promotions
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.select(t.c.customer_id, sa.func.count()).group_by(t.c.customer_id)
            ).all()
        )
    heavy = [c for c, n in counts.items() if n > 100]
    assert heavy
    for customer_id in heavy:
        customer = sim.dataset.customer_by_id(customer_id)
        assert counts[customer_id] == len(sim.dataset.held_promotions(customer.org_id, customer_id))
    assert _requests(counters, "promotionData") > len(counts)  # some walks took two pages


def _xmins(engine: sa.Engine) -> dict[str, set[tuple[Any, ...]]]:
    out = {}
    with engine.connect() as conn:
        for table in DATA_TABLES:
            key = list(table.primary_key.columns)
            out[table.name] = set(
                conn.execute(sa.select(*key, sa.literal_column("xmin::text"))).all()
            )
    return out


def test_second_sync_rewrites_nothing(synced: Any) -> None:
    _, engine, _ = synced
    before = _xmins(engine)
    summary = run_sync(show_progress=False)
    assert summary.success
    assert _xmins(engine) == before


@pytest.mark.slow  # a second whole sync on the other API
def test_v2_benefits_match_v3(
    synced: Any, server_admin_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sim, v3_engine, _ = synced
    v2_url = new_database(server_admin_url)
    monkeypatch.setenv("LOYALTY_SYNC_DATABASE_URL", v2_url)
    monkeypatch.setenv("CAPILLARY_BENEFITS_API", "v2")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-v2"))
    v2_engine = sa.create_engine(v2_url)
    try:
        _import_roster(sim, v2_engine, tmp_path)
        assert run_sync(show_progress=False).success
        summaries = {
            (r.customer_id, r.promotion_id): (r.no_benefits, r.warning_code, r.api_version)
            for r in _rows(v2_engine, tables.benefit_summaries)
        }
        expected = {
            (r.customer_id, r.promotion_id): (r.no_benefits, r.warning_code, "v2")
            for r in _rows(v3_engine, tables.benefit_summaries)
        }
        assert summaries == expected

        def points(engine: sa.Engine) -> set[tuple[Any, ...]]:
            return {
                (r.customer_id, r.promotion_id, r.points_category, r.total_points_issued)
                for r in _rows(engine, tables.benefit_points)
            }

        assert points(v2_engine) == points(v3_engine)

        def rewards(engine: sa.Engine) -> dict[tuple[Any, ...], int]:
            totals: dict[tuple[Any, ...], int] = {}
            for r in _rows(engine, tables.benefit_incentives):
                if r.action in ("REWARD", "BADGES"):
                    key = (r.customer_id, r.promotion_id, r.action, r.action_id)
                    totals[key] = totals.get(key, 0) + (r.action_issued_count or 0)
            return totals

        assert rewards(v2_engine) == rewards(v3_engine)
        assert rewards(v2_engine)

        def currencies(engine: sa.Engine) -> dict[tuple[Any, ...], Decimal]:
            totals: dict[tuple[Any, ...], Decimal] = {}
            for r in _rows(engine, tables.benefit_alternate_currencies):
                key = (r.customer_id, r.promotion_id, r.currency_name)
                totals[key] = totals.get(key, Decimal(0)) + (r.total_issued or 0)
            return totals

        assert currencies(v2_engine) == currencies(v3_engine)
    finally:
        v2_engine.dispose()


def _content(engine: sa.Engine) -> dict[str, set[tuple[Any, ...]]]:
    """Every data table's rows without the columns that say when or by which run."""
    skip = {"synced_at", "run_id", "valid_from"}
    out = {}
    with engine.connect() as conn:
        for table in DATA_TABLES:
            columns = [c for c in table.columns if c.name not in skip and c.name != "raw"]
            out[table.name] = {tuple(map(str, row)) for row in conn.execute(sa.select(*columns))}
    return out


@pytest.mark.slow  # two sync processes, one killed mid-pass
def test_killed_sync_then_rerun_equals_a_clean_run(server_admin_url: str, tmp_path: Path) -> None:
    results = {}
    with serve_simulator(CONFIG, latency_ms=15) as sim:
        for name in ("killed", "clean"):
            home = tmp_path / name
            home.mkdir()
            with warehouse(server_admin_url, home, sim) as target:
                if name == "killed":
                    sim.reset_counters()
                    proc = target.start_cli_sync()
                    deadline = time.monotonic() + 120
                    # Kill in the middle of the benefits pass of the first org.
                    while _requests(sim.counters(), "actionSummary") < 20:
                        assert proc.poll() is None, "the sync ended before it could be killed"
                        assert time.monotonic() < deadline
                        time.sleep(0.05)
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                done = target.cli_sync()
                assert done.returncode == 0, done.stdout + done.stderr
                results[name] = _content(target.engine)
    assert results["killed"] == results["clean"]
