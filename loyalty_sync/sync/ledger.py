"""The run ledger's old address: everything a sync records about itself now lives in
`loyalty_sync.sync.record` (runs, checkpoints, generations, events over one model); this
module keeps the names callers import from here.
"""

from __future__ import annotations

from loyalty_sync.sync.record.checkpoints import (
    Checkpoint,
    complete_checkpoint,
    open_checkpoint,
    save_checkpoint,
    served_by,
)
from loyalty_sync.sync.record.events import EVENT_FLUSH, EventLog, event_row
from loyalty_sync.sync.record.generations import (
    SYNC_GENERATION,
    Generation,
    generation_pass_done,
    open_generation,
)
from loyalty_sync.sync.record.model import PassState, SyncStatus, as_metadata_counts
from loyalty_sync.sync.record.outcome import PassOutcome
from loyalty_sync.sync.record.runs import block, fail_runs, open_runs, record_pass
from loyalty_sync.sync.scope import RunScope


def org_shares(scope: RunScope, outcome: PassOutcome) -> dict[str, tuple[int, int]]:
    """Partition key -> its share of its org's calls and retries in this pass."""
    return {
        key: (share.calls, share.retries)
        for key, share in outcome.calls_by_partition(scope).items()
    }


__all__ = [
    "EVENT_FLUSH",
    "SYNC_GENERATION",
    "Checkpoint",
    "EventLog",
    "Generation",
    "PassOutcome",
    "PassState",
    "SyncStatus",
    "as_metadata_counts",
    "block",
    "complete_checkpoint",
    "event_row",
    "fail_runs",
    "generation_pass_done",
    "open_checkpoint",
    "open_generation",
    "open_runs",
    "org_shares",
    "record_pass",
    "save_checkpoint",
    "served_by",
]
