"""The one place assets, checks, sensors, schedules, jobs and resources meet."""

from __future__ import annotations

import dagster as dg

from loyalty_sync.defs.assets import capillary_assets
from loyalty_sync.defs.checks import capillary_checks
from loyalty_sync.defs.jobs import capillary_sync_job
from loyalty_sync.defs.reports import promotion_performance
from loyalty_sync.defs.resources import resources_from_env
from loyalty_sync.defs.schedules import capillary_schedules
from loyalty_sync.defs.sensors import capillary_sensors


def build_defs() -> dg.Definitions:
    """Definitions with resources read from the environment as it is now.

    Building them makes the one choice of what Capillary is: with `CAPILLARY_BASE_URL`
    unset, the bundled simulator, started here if this home has none running. The CLI
    and tests call this after setting variables.
    """
    return dg.Definitions(
        assets=[*capillary_assets, promotion_performance],
        asset_checks=capillary_checks,
        jobs=[capillary_sync_job],
        sensors=capillary_sensors,
        schedules=capillary_schedules,
        resources=resources_from_env(),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What `dagster dev`, code servers and run workers load, built when they load it.

    Lazy, so that importing this module (a test, a tool listing the package) starts no
    simulator: only a process that serves the definitions builds them.
    """
    return build_defs()
