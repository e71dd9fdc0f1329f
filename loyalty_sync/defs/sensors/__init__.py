"""Sensors, one module each, with the plain logic a sensor needs beside it."""

from loyalty_sync.defs.sensors.dead_syncs import DEAD_SYNCS_SENSOR, close_dead_syncs
from loyalty_sync.defs.sensors.discovery import DISCOVERY_SENSOR, org_program_discovery
from loyalty_sync.defs.sensors.new_promotions import (
    NEW_PROMOTIONS_SENSOR,
    PROMOTION_ASSET_KEYS,
    PROMOTION_TAG,
    new_promotions,
)

capillary_sensors = [org_program_discovery, new_promotions, close_dead_syncs]

__all__ = [
    "DEAD_SYNCS_SENSOR",
    "DISCOVERY_SENSOR",
    "NEW_PROMOTIONS_SENSOR",
    "PROMOTION_ASSET_KEYS",
    "PROMOTION_TAG",
    "capillary_sensors",
    "close_dead_syncs",
    "new_promotions",
    "org_program_discovery",
]
