"""Change-driven syncs over HTTP and a real PostgreSQL: what a sync asks for, and why.

Each test starts from a warehouse synced once (everything new, so everything fetched)
and changes the simulator through its admin routes before syncing again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from capillary_simulator.server import RunningSimulator
from loyalty_sync.cli.sync_results import SyncSummary
from loyalty_sync.cli.sync_runner import run_sync
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.database import DATABASE_URL_ENV
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.factories import preset, serve_simulator
from loyalty_sync_tests.simulated_clock import follow, local_clock_following
from loyalty_sync_tests.synced_warehouse import Warehouse, warehouse

CONFIG = preset("change_driven")
PROMOTION_DATA = "/v2.1/customers/lookup/promotionData"
LOOKUP = "/v2/customers/lookup/customerDetails"


@pytest.fixture(scope="module", autouse=True)
def _local_clock_follows_the_simulator() -> Iterator[None]:
    with local_clock_following():
        yield


@pytest.fixture(scope="module")
def synced_once(
    server_admin_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """One first sync for the module's same-day tests. Each of them syncs again, so each
    leaves the warehouse in step with the simulator, as the next one expects."""
    home = tmp_path_factory.mktemp("change-driven")
    with serve_simulator(CONFIG) as simulator:
        follow(simulator)
        with warehouse(server_admin_url, home, simulator) as synced:
            first = synced.sync()
            assert first.success, [r.error for r in first.runs]
            yield synced


@pytest.fixture
def synced(
    synced_once: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> tuple[RunningSimulator, sa.Engine]:
    for name, value in synced_once.env.items():
        monkeypatch.setenv(name, value)
    follow(synced_once.sim)
    return synced_once.sim, synced_once.engine


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
    assert summary.signals["promotions"]["skipped_by_reason"] == {
        "fetched_today": CONFIG.customers_per_org
    }
    assert summary.signals["benefits"]["skipped"] > 0
    # The drift checks say why nothing was sampled: the day's sample was taken already.
    drift = [c for run in summary.runs for c in run.checks if c["check"] == "change_signal_drift"]
    assert drift and all(c["passed"] for c in drift)
    for check in drift:
        assert "first or full sync" not in check["description"], check
        assert re.search(r"none of the \d+ skipped \w+ items was sampled", check["description"])


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


def _benefit_calls(calls: dict[str, int]) -> dict[str, int]:
    """actionSummary calls by API version."""
    by_version: dict[str, int] = {}
    for path, n in calls.items():
        if "actionSummary" in path:
            version = path.split("/")[1]
            by_version[version] = by_version.get(version, 0) + n
    return by_version


def _benefit_content(engine: sa.Engine) -> dict[str, set[tuple[str, ...]]]:
    return {name: rows for name, rows in _content(engine).items() if name.startswith("benefit_")}


@pytest.mark.slow  # every pair fetched again, then a full copy to compare
def test_a_change_of_benefits_api_refetches_every_pair_with_the_new_one(
    synced, server_admin_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """v3 -> v2 the same day: every pair is due (not `fetched_today`), fetched with v2, and
    the tables equal a first v2 sync's, v3's rows gone; back to v3, the same again."""
    simulator, engine = synced
    as_v3 = _benefit_content(engine)
    monkeypatch.setenv("CAPILLARY_BENEFITS_API", "v2")
    summary, calls = _sync(simulator)
    pairs = summary.signals["benefits"]["items"]
    assert summary.signals["benefits"]["fetched"] == {"settings_changed": pairs}
    assert _benefit_calls(calls) == {"v2": pairs}
    as_v2 = _benefit_content(engine)
    env = dict(os.environ)
    assert _benefit_content(_full_copy(simulator, server_admin_url, tmp_path, monkeypatch)) == as_v2
    # The flavours store different rows, so a table that mixed them would show here.
    assert all(as_v2[name] != as_v3[name] for name in as_v2)
    for name in (DATABASE_URL_ENV, "DAGSTER_HOME"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("CAPILLARY_BENEFITS_API", "v3")
    summary, calls = _sync(simulator)
    assert summary.signals["benefits"]["fetched"] == {"settings_changed": pairs}
    assert _benefit_calls(calls) == {"v3": pairs}
    assert _benefit_content(engine) == as_v3


# --- simulated days: an incremental sync against a full sync of the same state ----------

# Changes no cheap signal sees: they wait for the max age, and the drift sample measures them.
UNSIGNALLED = ("summary_only", "enrolled")
DAY_CONFIG = CONFIG.replace(seed=12, customers_per_org=40)


def _content(engine: sa.Engine) -> dict[str, set[tuple[str, ...]]]:
    """Every data table's rows without the columns that say when or by which run."""
    skip = {"synced_at", "run_id", "raw", "valid_from"}
    with engine.connect() as conn:
        return {
            t.name: {
                tuple(map(str, row))
                for row in conn.execute(sa.select(*(c for c in t.columns if c.name not in skip)))
            }
            for t in tables.CONTRACT_TABLES
            # tier_history is history: a warehouse synced twice has seen the tier moves.
            if t.name not in ("sync_runs", "api_events", "customer_roster", "tier_history")
        }


def _pairs_of(rows: set[tuple[str, ...]], table: sa.Table) -> set[tuple[int, int]]:
    names = [c.name for c in table.columns if c.name not in {"synced_at", "run_id", "raw"}]
    if "promotion_id" not in names or "customer_id" not in names:
        return {(-1, hash(table.name))} if rows else set()  # nor may a table without pairs
    c, p = names.index("customer_id"), names.index("promotion_id")
    return {(int(row[c]), int(row[p])) for row in rows}


@pytest.fixture
def day_simulator() -> Iterator[RunningSimulator]:
    with serve_simulator(DAY_CONFIG) as running:
        follow(running)
        yield running


def _synced_day_zero(
    sim: RunningSimulator, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in sim.client_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CAPILLARY_RATE_LIMIT_PER_MINUTE", "600000")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    roster = tmp_path / "roster.csv"
    roster.write_text(sim.roster_csv())
    import_roster(engine, roster)
    assert run_sync(show_progress=False).success


def _full_copy(
    sim: RunningSimulator, admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> sa.Engine:
    """A second warehouse, synced in full from the simulator's state as it is now."""
    url = new_database(admin_url)
    monkeypatch.setenv("LOYALTY_SYNC_DATABASE_URL", url)
    engine = sa.create_engine(url)
    roster = tmp_path / "roster-full.csv"
    roster.write_text(sim.roster_csv())
    import_roster(engine, roster)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster-full"))
    assert run_sync(show_progress=False, full=True).success
    return engine


def _differing_pairs(ours: sa.Engine, full: sa.Engine) -> set[tuple[int, int]]:
    mine, theirs = _content(ours), _content(full)
    differing: set[tuple[int, int]] = set()
    for table in tables.CONTRACT_TABLES:
        if table.name in mine:
            differing |= _pairs_of(mine[table.name] ^ theirs[table.name], table)
    return differing


@pytest.mark.slow  # a simulated day of churn, then a full copy to compare
@pytest.mark.parametrize("sample", [0.0, 1.0])
def test_after_a_day_of_churn_an_incremental_sync_matches_a_full_one_but_the_unsignalled(
    day_simulator: RunningSimulator,
    engine: sa.Engine,
    server_admin_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sample: float,
) -> None:
    """Without a sample, only the unsignalled kinds differ from a full sync; sampling every
    skipped item, nothing does, and the sample found exactly the unsignalled changes."""
    _synced_day_zero(day_simulator, engine, monkeypatch, tmp_path)
    report = day_simulator.advance(1, churn=0.5)
    follow(day_simulator)
    changes = report["changes"]
    assert all(changes[kind]["count"] > 0 for kind in changes if kind != "new_promotion")
    monkeypatch.setenv("LOYALTY_SYNC_MAX_AGE_DAYS", "30")  # a bucket refresh would hide misses
    monkeypatch.setenv("LOYALTY_SYNC_DRIFT_SAMPLE", str(sample))
    incremental = run_sync(show_progress=False)
    assert incremental.success
    differing = _differing_pairs(
        engine, _full_copy(day_simulator, server_admin_url, tmp_path, monkeypatch)
    )
    unsignalled = {
        (i["customer_id"], i["promotion_id"]) for k in UNSIGNALLED for i in changes[k]["items"]
    }
    found = {
        name: (incremental.signals[name]["sampled"], incremental.signals[name]["sampled_changed"])
        for name in ("promotions", "benefits")
    }
    if sample == 0.0:
        assert differing and differing <= unsignalled
        assert found == {"promotions": (0, 0), "benefits": (0, 0)}
    else:
        assert differing == set()
        enrolled = {i["customer_id"] for i in changes["enrolled"]["items"]}
        assert found["promotions"][1] == len(enrolled)
        assert found["benefits"][1] == changes["summary_only"]["count"]
        # The drift check says the same, per partition, and warns above 5 %.
        drift = [
            c
            for run in incremental.runs
            for c in run.checks
            if c["check"] == "change_signal_drift" and c["asset"] == "benefit_summaries"
        ]
        assert {c["partition"] for c in drift} == {"51135-2568", "51135-2569"}
        sampled, changed = found["benefits"]
        assert all(f"{changed} of {sampled} sampled" in c["description"] for c in drift)
        assert all(c["passed"] == (changed / sampled <= 0.05) for c in drift)


@pytest.mark.slow  # a simulated day, then a full copy to compare
def test_a_new_promotion_reaches_its_holders_through_the_catalogue(
    day_simulator: RunningSimulator,
    engine: sa.Engine,
    server_admin_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _synced_day_zero(day_simulator, engine, monkeypatch, tmp_path)
    report = day_simulator.advance(1, churn=0.0, new_promotions=1)
    follow(day_simulator)
    assert report["changes"]["new_promotion"]["count"] > 0
    monkeypatch.setenv("LOYALTY_SYNC_DRIFT_SAMPLE", "0")
    incremental = run_sync(show_progress=False)
    assert (
        incremental.signals["promotions"]["fetched"]["new_promotion"]
        == DAY_CONFIG.customers_per_org
    )
    full = _full_copy(day_simulator, server_admin_url, tmp_path, monkeypatch)
    assert _differing_pairs(engine, full) == set()


@pytest.mark.slow  # a full sync through the command
def test_the_command_line_forces_a_full_sync_and_says_what_was_fetched(synced) -> None:
    from click.testing import CliRunner

    from loyalty_sync.cli.main import main

    result = CliRunner().invoke(main, ["sync", "--full", "--no-progress"])
    assert result.exit_code == 0, result.output
    n = CONFIG.customers_per_org
    assert f"promotionData: fetched {n} of {n} items (full {n}); skipped 0" in result.output
    again = CliRunner().invoke(main, ["sync", "--no-progress"])
    skipped = f"promotionData: fetched 0 of {n} items (none); skipped {n} (fetched_today {n})"
    assert skipped in again.output, again.output


@pytest.mark.parametrize(
    ("name", "value"), [("LOYALTY_SYNC_MAX_AGE_DAYS", "0"), ("LOYALTY_SYNC_DRIFT_SAMPLE", "2")]
)
def test_a_bad_freshness_setting_stops_the_sync_in_one_line(
    synced, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    from click.testing import CliRunner

    from loyalty_sync.cli.main import main

    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["sync", "--no-progress"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) <= 2 and name in lines[-1], result.output


@pytest.mark.parametrize("full", [False, True])
def test_a_pass_run_alone_dates_its_items_by_capillarys_clock(synced, full: bool) -> None:
    """As a rerun's benefits pass in a new process does: a client that has seen no answer.

    Last in the module: the pass runs outside any sync, with a run id of its own.
    """
    from loyalty_sync.capillary.client import CapillaryClient, ClientSettings
    from loyalty_sync.capillary.ratelimit import MemoryRateLimiter
    from loyalty_sync.sync import passes
    from loyalty_sync.sync.change_signals import SignalPolicy
    from loyalty_sync.sync.scope import RunScope
    from loyalty_sync_tests.capillary.conftest import BASIC

    simulator, engine = synced
    settings = ClientSettings(base_url=simulator.base_url, own_org_id=51135)
    keys = ["51135-2568", "51135-2569"]
    with CapillaryClient(settings, BASIC, MemoryRateLimiter(600_000)) as client:
        options = passes.PassOptions(policy=SignalPolicy(full=full))
        scope = RunScope.from_partition_keys("alone", keys)
        passes.BenefitsPass.sync(engine, client, scope, options)
    state = tables.sync_item_state
    with engine.connect() as conn:
        days = set(conn.scalars(sa.select(sa.func.date(state.c.fetched_at)).distinct()))
    assert {str(day) for day in days} == {CONFIG.reference_date.isoformat()}
