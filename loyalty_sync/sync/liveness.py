"""Closing `sync_runs` rows no living run will close: see `record.liveness`."""

from loyalty_sync.sync.record.liveness import (
    ABANDONED,
    STALE_AFTER,
    abandon,
    abandon_stale,
    running_run_ids,
)

__all__ = ["ABANDONED", "STALE_AFTER", "abandon", "abandon_stale", "running_run_ids"]
