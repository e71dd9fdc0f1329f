"""Dagster definitions, one module per concern: partitions, resources, assets, checks,
sensors, schedules. `loyalty_sync.definitions` is where they meet."""
