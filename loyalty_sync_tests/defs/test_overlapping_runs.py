"""A run launched while another sync holds its partitions: it waits, then skips their passes.

A `loyalty-sync sync` holds its partitions for its whole run; a backfill's run launched
meanwhile starts and waits for them. When it gets them, every pass was done by the other
sync after it started: it skips them rather than fetching minutes-old data again (the
lookups included, which no change signal covers).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from capillary_simulator import SimulatorConfig, start_simulator
from capillary_simulator.server import RunningSimulator
from loyalty_sync.defs.jobs import TRIGGER_TAG
from loyalty_sync.warehouse import locks
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.warehouse_content import content

pytestmark = pytest.mark.slow

CONFIG = SimulatorConfig(
    seed=31,
    customers_per_org=10,
    programs_per_org=(2, 1),
    promotions_per_program=4,
)
KEYS = ["51135-2568", "51135-2569", "51136-2570"]
SYNC = [sys.executable, "-m", "loyalty_sync.cli", "sync", "--no-progress"]
RUN = [sys.executable, "-m", "loyalty_sync_tests.defs.overlapping_run", *KEYS]
# The holding sync's pace: about 40 s for its ~85 calls, time enough for the other run's
# process to start and begin waiting however loaded the machine is.
SLOW_RATE = "120"


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    with start_simulator(CONFIG) as running:
        yield running


def _warehouse(admin_url: str, sim: RunningSimulator, tmp_path: Path, name: str) -> sa.Engine:
    engine = sa.create_engine(new_database(admin_url), poolclass=sa.pool.NullPool)
    roster = tmp_path / f"{name}.csv"
    roster.write_text(sim.roster_csv())
    import_roster(engine, roster)
    return engine


def _env(sim: RunningSimulator, engine: sa.Engine, home: Path, rate: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")},
        **sim.client_environment(),
        "CAPILLARY_RATE_LIMIT_PER_MINUTE": rate,
        "LOYALTY_SYNC_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "DAGSTER_HOME": str(home),
    }


def _requests(sim: RunningSimulator) -> int:
    return int(sim.counters()["credentials"][CONFIG.username]["requests"])


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err[-3000:]
    return out


def _held(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return locks.holder_of(conn, KEYS[0]) is not None


def _wait(condition, what: str, seconds: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {seconds} s"
        time.sleep(0.2)


def test_a_run_launched_during_a_sync_waits_then_skips_what_it_did(
    simulator: RunningSimulator, server_admin_url: str, template_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "dagster"
    reference = _warehouse(server_admin_url, simulator, tmp_path, "reference")
    simulator.reset_counters()
    _finish(_start(SYNC, _env(simulator, reference, home, "600000")))
    one_sync = _requests(simulator)

    engine = _warehouse(server_admin_url, simulator, tmp_path, "overlapped")
    simulator.reset_counters()
    env = _env(simulator, engine, home, SLOW_RATE)
    holder = _start(SYNC, env)
    _wait(lambda: _held(engine), "partition lock held by the sync")
    waiter = _start(RUN, env)
    _wait(lambda: _waiting(waiter, home), "run waiting for the partitions")
    assert holder.poll() is None, "the sync ended before the run began to wait"
    _finish(holder)
    run_id = _finish(waiter).strip().splitlines()[-1]

    assert content(engine) == content(reference)
    assert one_sync <= _requests(simulator) <= one_sync + 2, (one_sync, _requests(simulator))
    log = _log(home, run_id)
    for name in ("customers", "promotions", "benefits"):
        assert f"{name} pass done by run" in log, log


def _waiting(proc: subprocess.Popen[str], home: Path) -> bool:
    if proc.poll() is not None:
        _finish(proc)  # a run that ended already says why
        raise AssertionError("the run ended without waiting for the sync")
    return "waiting" in _log(home, _latest_run(home))


def _latest_run(home: Path) -> str | None:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(dg.RunsFilter(tags={TRIGGER_TAG: "cli"}))
        others = [r for r in instance.get_runs() if r.run_id not in {x.run_id for x in runs}]
        return others[0].run_id if others else None


def _log(home: Path, run_id: str | None) -> str:
    if run_id is None:
        return ""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return "\n".join(e.user_message for e in instance.all_logs(run_id))
