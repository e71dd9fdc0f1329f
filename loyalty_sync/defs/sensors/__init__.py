"""Sensors, one module each, with the plain logic a sensor needs beside it."""

from loyalty_sync.defs.sensors.discovery import DISCOVERY_SENSOR, org_program_discovery
from loyalty_sync.defs.sensors.new_promotions import (
    NEW_PROMOTIONS_SENSOR,
    PROMOTION_ASSET_KEYS,
    PROMOTION_TAG,
    new_promotions,
)

capillary_sensors = [org_program_discovery, new_promotions]

__all__ = [
    "DISCOVERY_SENSOR",
    "NEW_PROMOTIONS_SENSOR",
    "PROMOTION_ASSET_KEYS",
    "PROMOTION_TAG",
    "capillary_sensors",
    "new_promotions",
    "org_program_discovery",
]
