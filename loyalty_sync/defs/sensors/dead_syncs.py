"""`close_dead_syncs`: a run that failed without its passes closing its `sync_runs` rows.

A pass that fails closes its rows itself. A run whose worker died (SIGKILL, a lost node)
cannot: run monitoring marks it failed, and this sensor then closes its rows as
`abandoned` with monitoring's reason, so sync recency never reads a dead run as a sync
still under way. Each pass also does this for every ended run before it starts
(`dead_runs.close_ended_runs`); the sensor makes it immediate when no run follows.
"""

import dagster as dg

from loyalty_sync.defs.resources import WarehouseResource
from loyalty_sync.sync import liveness

DEAD_SYNCS_SENSOR = "close_dead_syncs"


@dg.run_failure_sensor(
    name=DEAD_SYNCS_SENSOR,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Closes the sync_runs rows a failed run left running (a dead worker) as "
    "abandoned, with the failure's reason.",
)
def close_dead_syncs(context: dg.RunFailureSensorContext, warehouse: WarehouseResource) -> None:
    run_id = context.dagster_run.run_id
    reason = (context.failure_event.message or "the run failed").splitlines()[0]
    if rows := liveness.abandon(warehouse.get_engine(), [run_id], f"run failed: {reason}"):
        context.log.info(f"closed {rows} sync_runs row(s) of run {run_id}: {reason}")
