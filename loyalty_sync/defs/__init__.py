"""Dagster definitions, one module per concern: partitions, resources, assets, checks,
sensors, schedules. `loyalty_sync.definitions` is where they meet.

Dagster marks parameters these definitions use on purpose (`backfill_policy`, pools,
partitioned checks) as beta or preview, and says so each time a process loads them: in
every `dagster` command, code server and run worker. The warnings say nothing a user of
this project can act on, so they are silenced here, where every such process loads them.
"""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
