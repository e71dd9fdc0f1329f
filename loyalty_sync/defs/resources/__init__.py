"""The two resources every asset, check and sensor uses, and how they are built from the
environment: the warehouse, and the Capillary API, which depends on the warehouse for the
rate limit it shares with every other process using the same API key.
"""

from __future__ import annotations

from typing import Any

from loyalty_sync.defs.resources.capillary import CapillaryResource, capillary_resource_from_env
from loyalty_sync.defs.resources.warehouse import WarehouseResource, warehouse_resource_from_env


def resources_from_env() -> dict[str, Any]:
    """Both resources from the Environment table; the Capillary one bound to this warehouse."""
    warehouse = warehouse_resource_from_env()
    return {"capillary": capillary_resource_from_env(warehouse), "warehouse": warehouse}


__all__ = ["CapillaryResource", "WarehouseResource", "resources_from_env"]
