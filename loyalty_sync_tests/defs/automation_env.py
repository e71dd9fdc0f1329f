"""A running simulator, resources pointed at it and an ephemeral instance, for tick tests.

Each test gets its own simulator (in a thread: it starts in a fraction of a second) because
the tests change it through its admin endpoints.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

from capillary_simulator import RunningSimulator
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.defs.resources import (
    WAREHOUSE_IO_MANAGER,
    CapillaryResource,
    WarehouseIOManager,
    WarehouseResource,
)
from loyalty_sync_tests.factories import preset, serve_simulator

# Home org 51135 with programs 2568 and 2569, connected org 51136 with program 2570.
CONFIG = preset("tiny")
HOME_ORG = 51135
CONNECTED_ORG = 51136
KEYS = ["51135-2568", "51135-2569", "51136-2570"]


@dataclass
class AutomationEnv:
    sim: RunningSimulator
    instance: dg.DagsterInstance
    resources: dict[str, object]

    def add_partitions(self, keys: list[str]) -> None:
        self.instance.add_dynamic_partitions(ORG_PROGRAM_PARTITIONS, keys)


@contextmanager
def automation_env(database_url: str, *, ephemeral: bool = True) -> Iterator[AutomationEnv]:
    """The definitions' resources on a fresh simulator (retries kept short) and warehouse.

    The instance is ephemeral (in memory) unless a schedule needs one it can reference.
    """
    with (
        serve_simulator(CONFIG, in_thread=True) as sim,
        dg.DagsterInstance.ephemeral() if ephemeral else dg.instance_for_test() as instance,
    ):
        warehouse = WarehouseResource(database_url=database_url)
        capillary = CapillaryResource(
            base_url=sim.base_url,
            org_ids=f"{HOME_ORG},{CONNECTED_ORG}",
            username=CONFIG.username,
            password=CONFIG.password,
            rate_limit_per_minute=60_000,
            warehouse=warehouse,
            max_attempts=2,
            backoff_initial_seconds=0.01,
            backoff_max_seconds=0.05,
        )
        resources = {
            "capillary": capillary,
            "warehouse": warehouse,
            WAREHOUSE_IO_MANAGER: WarehouseIOManager(warehouse=warehouse),
        }
        yield AutomationEnv(sim, instance, resources)
