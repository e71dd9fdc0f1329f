"""Syncs that keep finished work through kills, outages and failing answers.

Each test runs `loyalty-sync sync` as a real process against the simulator over HTTP and
its own PostgreSQL database, breaks it the way production does (SIGKILL, every answer a
5xx for a while, a third of answers failing, customers that never answer), and compares
the warehouse with a clean sync of the same data, table by table, and the calls made with
the clean sync's.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from capillary_simulator.server import RunningSimulator
from loyalty_sync.settings import CHUNK_SIZE_ENV, DEFAULT_CHUNK_SIZE
from loyalty_sync.warehouse import migrate, tables
from loyalty_sync.warehouse.database import ensure_database
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.factories import preset, serve_simulator
from loyalty_sync_tests.pg_servers import tcp_postgres_server
from loyalty_sync_tests.synced_warehouse import (
    SYNC_COMMAND,
    Warehouse,
    sync_env,
    warehouse,
)
from loyalty_sync_tests.warehouse_content import content

# slow: kills `loyalty-sync sync` processes and waits through outages and retries
pytestmark = pytest.mark.slow

CONFIG = preset("kills")
# Small chunks, so a SIGKILL lands between committed chunks of every pass.
CHUNK = 20
# Long enough for the breaker to open and probe four times (after 1, 3, 7 and 15 s), short
# of the probe interval's 30 s cap; the first probe after it ends closes the breaker.
OUTAGE_SECONDS = 12
CHUNKED = {CHUNK_SIZE_ENV: str(CHUNK)}


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    with serve_simulator(CONFIG) as running:
        yield running


@pytest.fixture
def target(
    simulator: RunningSimulator, server_admin_url: str, tmp_path: Path
) -> Iterator[Warehouse]:
    with warehouse(server_admin_url, tmp_path, simulator, **CHUNKED) as made:
        simulator.set_faults(
            error_rate=0.0, malformed_rate=0.0, throttle_rate=0.0, failing_customers=[]
        )
        yield made


@pytest.fixture(scope="module")
def clean(
    simulator: RunningSimulator,
    server_admin_url: str,
    template_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, set[tuple[str, ...]]], int]:
    """A fault-free sync of the simulator's data: its tables and the requests it made."""
    tmp = tmp_path_factory.mktemp("clean")
    with warehouse(server_admin_url, tmp, simulator, **CHUNKED) as fault_free:
        before = simulator.counters()["total_requests"]
        done = fault_free.cli_sync()
        assert done.returncode == 0, done.stdout + done.stderr
        made = simulator.counters()["total_requests"] - before
        tables_now = content(fault_free.engine)
    assert tables_now["benefit_summaries"], "the clean sync must sync benefits to compare"
    return tables_now, made


def requests_to(sim: RunningSimulator, fragment: str) -> int:
    routes = sim.counters()["requests_by_endpoint"]
    return sum(n for route, n in routes.items() if fragment in route)


def wait_for(sim: RunningSimulator, fragment: str, count: int, proc: Any, limit: float = 180):
    deadline = time.monotonic() + limit
    while requests_to(sim, fragment) < count:
        assert proc is None or proc.poll() is None, f"the sync ended before {count} {fragment}"
        assert time.monotonic() < deadline, f"{fragment} never reached {count} requests"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("endpoint", "share"),
    [("customerDetails", 0.6), ("promotionData", 0.6), ("actionSummary", 0.6)],
)
def test_sigkill_then_rerun_equals_a_clean_sync_for_little_more_than_its_calls(
    simulator: RunningSimulator,
    target: Warehouse,
    clean: tuple[dict[str, Any], int],
    endpoint: str,
    share: float,
) -> None:
    expected, clean_calls = clean
    before = simulator.counters()
    total_for_endpoint = {
        "customerDetails": CONFIG.customers_per_org,
        "promotionData": CONFIG.customers_per_org,
        "actionSummary": len(expected["benefit_summaries"]),
    }[endpoint]
    start = requests_to(simulator, endpoint)
    proc = target.start_cli_sync()
    wait_for(simulator, endpoint, start + int(total_for_endpoint * share), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = target.cli_sync()
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert content(target.engine) == expected
    made = simulator.counters()["total_requests"] - before["total_requests"]
    assert made <= 1.15 * clean_calls, (made, clean_calls)


def test_an_outage_in_the_benefits_pass_is_waited_out(
    simulator: RunningSimulator, target: Warehouse, clean: tuple[dict[str, Any], int]
) -> None:
    expected, _ = clean
    start = requests_to(simulator, "actionSummary")

    def outage() -> None:
        wait_for(simulator, "actionSummary", start + 40, None)
        simulator.set_faults(error_rate=1.0)
        time.sleep(OUTAGE_SECONDS)
        simulator.set_faults(error_rate=0.0)

    breaker = threading.Thread(target=outage, daemon=True)
    breaker.start()
    done = target.cli_sync(timeout=900)
    breaker.join(timeout=5)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert content(target.engine) == expected
    # Announced once each way, not a line per retry.
    logs = done.stdout + done.stderr
    assert logs.count("Capillary unavailable") == 1, logs[-3000:]
    assert logs.count("Capillary is answering again") == 1


@pytest.mark.parametrize(
    "faults",
    [{"error_rate": 0.17, "malformed_rate": 0.16}, {"throttle_rate": 0.33}],
    ids=["5xx-and-truncated", "429-retry-after-1"],
)
def test_a_third_of_answers_failing_all_along(
    simulator: RunningSimulator,
    target: Warehouse,
    clean: tuple[dict[str, Any], int],
    faults: dict[str, float],
) -> None:
    expected, clean_calls = clean
    before = simulator.counters()["total_requests"]
    simulator.set_faults(**faults)
    # Default-sized chunks: the pool's read-ahead then spans a pass, so a call deep in its
    # back-off holds up only the end of its pass, not every chunk after it. What is
    # checked (the tables, the calls) does not depend on where chunks end.
    done = target.cli_sync(timeout=900, **{CHUNK_SIZE_ENV: str(DEFAULT_CHUNK_SIZE)})
    simulator.set_faults(error_rate=0.0, malformed_rate=0.0, throttle_rate=0.0)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert content(target.engine) == expected
    made = simulator.counters()["total_requests"] - before
    assert made <= 1.7 * clean_calls, (made, clean_calls)


def test_customers_failing_for_good_keep_their_rows_and_sync_once_lifted(
    simulator: RunningSimulator, target: Warehouse, clean: tuple[dict[str, Any], int]
) -> None:
    expected, _ = clean
    first = target.cli_sync()
    assert first.returncode == 0, first.stdout + first.stderr
    with target.engine.connect() as conn:
        chosen = list(
            conn.scalars(
                sa.select(tables.customers.c.customer_id)
                .order_by(tables.customers.c.customer_id)
                .limit(3)
            )
        )
        conn.execute(  # stand-in for "their data changed since": it must be kept as it was
            sa.update(tables.loyalty_program_details)
            .where(tables.loyalty_program_details.c.customer_id.in_(chosen))
            .values(lifetime_points=123456)
        )
        conn.commit()
    simulator.set_faults(failing_customers=chosen)
    # A short retry budget: these customers will not answer however long one waits.
    failed = target.cli_sync(timeout=900, CAPILLARY_RETRY_BUDGET_SECONDS="3")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "still failing" in failed.stdout + failed.stderr
    with target.engine.connect() as conn:
        kept = conn.scalar(
            sa.select(sa.func.count())
            .select_from(tables.loyalty_program_details)
            .where(
                tables.loyalty_program_details.c.customer_id.in_(chosen),
                tables.loyalty_program_details.c.lifetime_points == 123456,
            )
        )
    assert kept and kept >= len(chosen)
    simulator.set_faults(failing_customers=[])
    lifted = target.cli_sync()
    assert lifted.returncode == 0, lifted.stdout + lifted.stderr
    assert content(target.engine) == expected


def test_the_database_restarted_mid_sync_then_the_rerun_resumes(
    simulator: RunningSimulator, clean: tuple[dict[str, Any], int], tmp_path: Path
) -> None:
    """The warehouse's server restarts in the promotions pass: the sync fails cleanly or
    carries on, and a rerun finishes the job without redoing the customers pass."""
    expected, clean_calls = clean
    with tcp_postgres_server(tmp_path) as server:
        url = str(sa.engine.make_url(server.url).set(drivername="postgresql+psycopg"))
        ensure_database(url, "warehouse")
        url = str(sa.engine.make_url(url).set(database="warehouse"))
        engine = sa.create_engine(url)
        migrate.upgrade(engine)
        roster = tmp_path / "roster.csv"
        roster.write_text(simulator.roster_csv())
        import_roster(engine, roster)
        engine.dispose()
        env = sync_env(simulator, url, tmp_path, **CHUNKED)
        target = Warehouse(simulator, sa.create_engine(url, pool_pre_ping=True), env, tmp_path)
        before = simulator.counters()["total_requests"]
        start = requests_to(simulator, "promotionData")
        proc = subprocess.Popen(
            SYNC_COMMAND,
            env=target.cli_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        wait_for(simulator, "promotionData", start + CONFIG.customers_per_org // 2, proc)
        server.restart()
        output, _ = proc.communicate(timeout=600)
        # Carried on (0), a run failed (1), or the warehouse unreachable (2): each is clean.
        assert proc.returncode in (0, 1, 2), output.decode()[-3000:]
        if proc.returncode == 2:
            assert b"cannot connect to the warehouse" in output, output.decode()[-3000:]
        rerun = target.cli_sync()
        assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
        assert content(target.engine) == expected
        made = simulator.counters()["total_requests"] - before
        assert made <= 1.15 * clean_calls, (made, clean_calls)
        target.engine.dispose()
