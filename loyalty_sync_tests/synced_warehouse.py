"""One simulator sync into a fresh database, for modules that read what a sync wrote.

The sync goes through `run_sync` (the `capillary_sync` job in process, as the CLI runs it)
on a Dagster instance of its own, so its partitions and materialisations are there too.
With `rewrites`, a rewriting proxy in front of the simulator changes its answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from capillary_simulator import SimulatorConfig, start_simulator
from capillary_simulator.server import RunningSimulator
from loyalty_sync.cli.sync_runner import SyncSummary, run_sync
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.rewriting_proxy import Rewrite, RewritingProxy

# Two orgs, three partitions; enough holders that promotions differ in what they give.
CONFIG = SimulatorConfig(
    seed=23,
    customers_per_org=16,
    programs_per_org=(2, 1),
    promotions_per_program=8,
    holders_share=0.5,
    unknown_roster_rows=1,
)


@dataclass
class SyncedWarehouse:
    sim: RunningSimulator
    engine: sa.Engine
    env: dict[str, str]
    dagster_home: Path
    summary: SyncSummary

    @contextmanager
    def environment(self) -> Iterator[None]:
        with pytest.MonkeyPatch.context() as mp:
            for name, value in self.env.items():
                mp.setenv(name, value)
            yield

    @contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        with dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            yield instance

    def partition_keys(self) -> list[str]:
        with self.instance() as instance:
            return list(instance.get_dynamic_partitions("org_program"))


@contextmanager
def synced_warehouse(
    admin_url: str,
    home: Path,
    config: SimulatorConfig = CONFIG,
    rewrites: dict[str, Rewrite] | None = None,
) -> Iterator[SyncedWarehouse]:
    """A simulator, a database with its roster, and one successful sync of everything."""
    with ExitStack() as stack:
        sim = stack.enter_context(start_simulator(config))
        api = sim.client_environment()
        if rewrites:
            proxy = stack.enter_context(RewritingProxy(sim.base_url).running())
            proxy.rewrites.update(rewrites)
            api["CAPILLARY_BASE_URL"] = proxy.base_url
        url = new_database(admin_url)
        engine = sa.create_engine(url)
        roster = home / "roster.csv"
        roster.write_text(sim.roster_csv())
        import_roster(engine, roster)
        env = {
            "LOYALTY_SYNC_DATABASE_URL": url,
            **api,
            "CAPILLARY_RATE_LIMIT_PER_MINUTE": "600000",
            "DAGSTER_HOME": str(home / "dagster"),
        }
        synced = SyncedWarehouse(sim, engine, env, home / "dagster", SyncSummary())
        with synced.environment():
            synced.summary = run_sync(show_progress=False)
        assert synced.summary.success, [r.error for r in synced.summary.runs]
        try:
            yield synced
        finally:
            engine.dispose()
