"""Syncs started together, as real `loyalty-sync sync` processes against the simulator.

Each round starts two syncs of the same partitions at once on a fresh Dagster home and a
fresh warehouse: the second must wait for the first (and say so), the warehouse must end
as one sync leaves it, `tier_history` must hold one first-seen row per customer and
program, and the Dagster store both created at once must serve a later sync.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from capillary_simulator.server import RunningSimulator
from loyalty_sync.warehouse import locks, tables
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.factories import preset, serve_simulator
from loyalty_sync_tests.sync.test_end_to_end import _content, _import_roster

# slow: `loyalty-sync sync` processes racing, one against a slow simulator
pytestmark = pytest.mark.slow

CONFIG = preset("concurrent")
# Rounds of the two-syncs test; raise it by hand (LOYALTY_SYNC_TEST_ROUNDS=10) to hunt races.
ROUNDS = int(os.environ.get("LOYALTY_SYNC_TEST_ROUNDS", "3"))
COMMAND = [sys.executable, "-m", "loyalty_sync.cli", "sync", "--no-progress"]


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    with serve_simulator(CONFIG) as running:
        yield running


def _env(sim: RunningSimulator, url: str, dagster_home: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")},
        **sim.client_environment(),
        "CAPILLARY_RATE_LIMIT_PER_MINUTE": "600000",
        "LOYALTY_SYNC_DATABASE_URL": url,
        "DAGSTER_HOME": str(dagster_home),
    }


def _start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        COMMAND, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, out + err
    return out + err


def _warehouse(server_admin_url: str, sim: RunningSimulator, tmp_path: Path) -> sa.Engine:
    engine = sa.create_engine(new_database(server_admin_url), poolclass=sa.pool.NullPool)
    _import_roster(sim, engine, tmp_path)
    return engine


def _first_seen(engine: sa.Engine) -> tuple[int, int]:
    """(tier_history rows, distinct customer/program pairs in loyalty_program_details)."""
    with engine.connect() as conn:
        history = conn.scalar(sa.select(sa.func.count()).select_from(tables.tier_history))
        details = conn.scalar(
            sa.select(sa.func.count()).select_from(tables.loyalty_program_details)
        )
    return int(history or 0), int(details or 0)


def test_two_syncs_at_once_write_as_one(
    simulator: RunningSimulator, server_admin_url: str, template_url: str, tmp_path: Path
) -> None:
    reference = _warehouse(server_admin_url, simulator, tmp_path)
    _finish(_start(_env(simulator, str(reference.url), tmp_path / "reference")))
    expected = _content(reference)
    assert _first_seen(reference)[0] == _first_seen(reference)[1] > 0
    waited = 0
    for round_ in range(ROUNDS):
        engine = _warehouse(server_admin_url, simulator, tmp_path)
        env = _env(
            simulator,
            engine.url.render_as_string(hide_password=False),
            tmp_path / f"home-{round_}",
        )
        outputs = [_finish(p) for p in [_start(env), _start(env)]]
        waited += sum("waiting for sync pid" in out for out in outputs)
        assert _content(engine) == expected, f"round {round_}"
        history, pairs = _first_seen(engine)
        assert history == pairs, f"round {round_}: {history} tier rows for {pairs} pairs"
        # The store both created at once serves a later sync, which records no tier again.
        _finish(_start(env))
        assert _first_seen(engine) == (history, pairs)
        engine.dispose()
    assert waited >= ROUNDS - 1, "the second sync should wait for the first and say so"


def test_a_waiting_sync_stops_at_sigterm(
    simulator: RunningSimulator, server_admin_url: str, template_url: str, tmp_path: Path
) -> None:
    engine = _warehouse(server_admin_url, simulator, tmp_path)
    env = _env(simulator, engine.url.render_as_string(hide_password=False), tmp_path / "home")
    data = simulator.dataset
    keys = [f"{org}-{p.program_id}" for org in data.org_ids for p in data.programs(org)]
    said: list[str] = []
    with locks.hold(engine, keys, holder="test holder", say=said.append):
        proc = _start(env)
        deadline = time.monotonic() + 120
        line = ""
        assert proc.stderr is not None
        while "waiting for" not in line:
            assert time.monotonic() < deadline and proc.poll() is None
            line = proc.stderr.readline()
        assert "test holder which holds partition" in line
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 5
    assert proc.returncode == 130, out + err
    assert err.strip().splitlines() == [
        f"stopped by SIGTERM while waiting for {line.split('waiting for ', 1)[1].strip()}; "
        "nothing was synced by this run"
    ]
    assert not said


def test_killed_syncs_leave_nothing_held(
    server_admin_url: str, template_url: str, tmp_path: Path
) -> None:
    """Two syncs SIGKILLed while they hold pool slots and partition locks; a third finishes."""
    import dagster as dg

    from loyalty_sync.defs.jobs import API_POOL
    from loyalty_sync_tests.sync.test_end_to_end import _requests

    with serve_simulator(CONFIG.replace(latency_ms=400)) as sim:
        engine = _warehouse(server_admin_url, sim, tmp_path)
        env = _env(sim, engine.url.render_as_string(hide_password=False), tmp_path / "home")
        killed = []
        for _ in range(2):
            before = _requests(sim.counters(), "customerDetails")
            proc = _start(env)
            deadline = time.monotonic() + 120
            while _requests(sim.counters(), "customerDetails") == before:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            killed.append(proc.pid)
        started = time.monotonic()
        third = _start(env)
        output = _finish(third)
        assert time.monotonic() - started < 120
        died = [line for line in output.splitlines() if " died (its process (pid " in line]
        assert any(f"(pid {killed[-1]})" in line for line in died), output
        assert all(f"freed 1 {API_POOL} slot(s)" in line for line in died), died
        with engine.connect() as conn:
            statuses = set(conn.scalars(sa.select(tables.sync_runs.c.status)))
        assert statuses == {"abandoned", "success"}
        os.environ["DAGSTER_HOME"], previous = env["DAGSTER_HOME"], os.environ.get("DAGSTER_HOME")
        try:
            with dg.DagsterInstance.get() as instance:
                assert not instance.event_log_storage.get_concurrency_info(API_POOL).claimed_slots
                unfinished = instance.get_runs(
                    dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
                )
                assert not unfinished
        finally:
            if previous is None:
                del os.environ["DAGSTER_HOME"]
            else:
                os.environ["DAGSTER_HOME"] = previous
        engine.dispose()
