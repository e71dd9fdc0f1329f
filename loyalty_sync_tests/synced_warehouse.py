"""A warehouse a test syncs: a fresh database holding a simulator's roster, and the
variables that point a sync at both.

Every test that syncs builds its warehouse here, so each starts the same way: a new
migrated database (cloned from the session's template), the simulator's roster imported,
a rate limit no test waits on, and a Dagster home of its own. A test then syncs in this
process (`sync`, the `capillary_sync` job as the CLI runs it) or as a user does
(`cli_sync`, `loyalty-sync sync` in a process of its own). With a proxy, a
`RewritingProxy` in front of the simulator changes its answers.

`synced_warehouse` is the common case: a simulator of a preset and one successful sync of
everything, for modules that read what a sync wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from capillary_simulator import SimulatorConfig
from capillary_simulator.server import RunningSimulator
from loyalty_sync.cli.sync_results import SyncSummary
from loyalty_sync.cli.sync_runner import run_sync
from loyalty_sync.warehouse.database import DATABASE_URL_ENV
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.factories import serve_simulator
from loyalty_sync_tests.rewriting_proxy import Rewrite, RewritingProxy

SYNC_COMMAND = [sys.executable, "-m", "loyalty_sync.cli", "sync", "--no-progress"]
# Far above what a test's syncs make: no test waits on the client's limiter.
UNLIMITED = "600000"


@dataclass
class Warehouse:
    """A database holding `sim`'s roster; `env` holds only the variables a sync needs."""

    sim: RunningSimulator
    engine: sa.Engine
    env: dict[str, str]
    home: Path  # the roster file and the Dagster home are under it
    proxy: RewritingProxy | None = None
    syncs: list[SyncSummary] = field(default_factory=list)  # of `sync`, in order

    @property
    def summary(self) -> SyncSummary:
        """The summary of the last `sync`."""
        return self.syncs[-1]

    @property
    def url(self) -> str:
        return self.env[DATABASE_URL_ENV]

    @property
    def dagster_home(self) -> Path:
        return Path(self.env["DAGSTER_HOME"])

    @contextmanager
    def environment(self) -> Iterator[None]:
        """This process's environment pointed at the warehouse, for in-process syncs."""
        with pytest.MonkeyPatch.context() as mp:
            for name, value in self.env.items():
                mp.setenv(name, value)
            yield

    @contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        with dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            yield instance

    def partition_keys(self) -> list[str]:
        """The partitions the syncs registered, in the instance's order."""
        with self.instance() as instance:
            return list(instance.get_dynamic_partitions("org_program"))

    def sync(self, partitions: list[str] | None = None, **options: Any) -> SyncSummary:
        """One `run_sync` in this process; its summary is also kept in `syncs`."""
        with self.environment():
            self.syncs.append(run_sync(partitions, show_progress=False, **options))
        return self.summary

    def cli_environment(self, **extra: str) -> dict[str, str]:
        """A child process's environment: this one's without Capillary's, then `env`."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")}
        return {**inherited, **self.env, **extra}

    def cli_sync(
        self, *args: str, timeout: float = 600, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """`loyalty-sync sync --no-progress ARGS` as a process, its output captured."""
        return subprocess.run(
            [*SYNC_COMMAND, *args],
            env=self.cli_environment(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start_cli_sync(self) -> subprocess.Popen[bytes]:
        """`loyalty-sync sync --no-progress` started, its output discarded."""
        return subprocess.Popen(
            SYNC_COMMAND,
            env=self.cli_environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def close(self) -> None:
        self.engine.dispose()


def sync_env(
    sim: RunningSimulator, url: str, home: Path, api_url: str | None = None, **extra: str
) -> dict[str, str]:
    """The variables that point a sync at warehouse `url` and at `sim` (or `api_url`, a
    proxy in front of it), with its Dagster home under `home`; `extra` adds variables."""
    api = sim.client_environment()
    if api_url:
        api["CAPILLARY_BASE_URL"] = api_url
    return {
        DATABASE_URL_ENV: url,
        **api,
        "CAPILLARY_RATE_LIMIT_PER_MINUTE": UNLIMITED,
        "DAGSTER_HOME": str(home / "dagster"),
        **extra,
    }


def new_warehouse(
    admin_url: str, home: Path, sim: RunningSimulator, api_url: str | None = None, **extra: str
) -> Warehouse:
    """A new database on the server of `admin_url` with `sim`'s roster (`sync_env` says
    what the other arguments mean)."""
    url = new_database(admin_url)
    engine = sa.create_engine(url)
    roster = home / "roster.csv"
    roster.write_text(sim.roster_csv())
    import_roster(engine, roster)
    return Warehouse(sim, engine, sync_env(sim, url, home, api_url, **extra), home)


@contextmanager
def warehouse(
    admin_url: str, home: Path, sim: RunningSimulator, *, proxy: bool = False, **extra: str
) -> Iterator[Warehouse]:
    """`new_warehouse`, closed on exit; with `proxy`, syncs go through a `RewritingProxy`."""
    with ExitStack() as stack:
        front = stack.enter_context(RewritingProxy(sim.base_url).running()) if proxy else None
        made = new_warehouse(admin_url, home, sim, front.base_url if front else None, **extra)
        made.proxy = front
        stack.callback(made.close)
        yield made


@contextmanager
def synced_warehouse(
    admin_url: str,
    home: Path,
    config: str | SimulatorConfig = "two_orgs",
    rewrites: dict[str, Rewrite] | None = None,
) -> Iterator[Warehouse]:
    """A simulator of `config` (a preset's name or a config), a warehouse with its roster,
    and one successful sync of everything (through `rewrites` if given)."""
    with (
        serve_simulator(config) as sim,
        warehouse(admin_url, home, sim, proxy=bool(rewrites)) as synced,
    ):
        if synced.proxy and rewrites:
            synced.proxy.rewrites.update(rewrites)
        summary = synced.sync()
        assert summary.success, [r.error for r in summary.runs]
        yield synced
