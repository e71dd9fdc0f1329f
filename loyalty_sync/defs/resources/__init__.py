"""The resources every asset, check and sensor uses, and how they are built from the
environment: the warehouse; the Capillary API, which depends on the warehouse for the
rate limit it shares with every other process using the same API key; and the I/O manager
that hands the warehouse tables to downstream assets as DataFrames.
"""

from __future__ import annotations

from typing import Any

from loyalty_sync.defs.resources.capillary import CapillaryResource
from loyalty_sync.defs.resources.capillary_env import capillary_resource_from_env
from loyalty_sync.defs.resources.io_manager import WAREHOUSE_IO_MANAGER, WarehouseIOManager
from loyalty_sync.defs.resources.warehouse import WarehouseResource, warehouse_resource_from_env


def resources_from_env() -> dict[str, Any]:
    """The resources from the Environment table; the others bound to this one warehouse.

    With no Capillary host set, this starts (or finds) the bundled simulator: it is
    called when the definitions are built, the one moment the choice is made.
    """
    warehouse = warehouse_resource_from_env()
    return {
        "capillary": capillary_resource_from_env(warehouse),
        "warehouse": warehouse,
        WAREHOUSE_IO_MANAGER: WarehouseIOManager(warehouse=warehouse),
    }


__all__ = [
    "WAREHOUSE_IO_MANAGER",
    "CapillaryResource",
    "WarehouseIOManager",
    "WarehouseResource",
    "capillary_resource_from_env",
    "resources_from_env",
]
