"""One `capillary_sync` run of the given partitions, the way a backfill's run worker makes it.

Unlike `loyalty-sync sync`, which holds its partitions for the whole run before it asks
Dagster for one, a launched run starts first and waits for each pass's partitions: two of
these started together overlap as two backfills' runs do.
"""

from __future__ import annotations

import sys

import dagster as dg

from loyalty_sync.definitions import build_defs
from loyalty_sync.defs.jobs import CAPILLARY_SYNC_JOB, block_target


def main(keys: list[str]) -> int:
    partition_key, tags = block_target(keys)
    job = build_defs().resolve_job_def(CAPILLARY_SYNC_JOB)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, partition_key=partition_key, tags=tags, raise_on_error=False
        )
    print(result.run_id)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
