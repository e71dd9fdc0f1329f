"""How passes cut their work and guard their deletes: the settings every pass shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from loyalty_sync.sync import change_signals


@dataclass(frozen=True)
class PassOptions:
    """How passes cut their work and guard their deletes.

    `chunk_size` items commit together; an unfinished pass touched within `resume_within`
    is resumed rather than started over. The drop guard: a completed pass that would
    delete more than `max_drop_share` of a partition's rows of a table (judged when the
    partition holds at least `drop_min_rows`) deletes nothing and reports the numbers,
    unless `accept_drops` says the drop is known to be genuine. `policy` says what the
    promotions and benefits passes may skip (`change_signals.py`). `benefits_api` is the
    actionSummary flavour: `v3` (by customer id) or `v2` (by identifier).
    """

    chunk_size: int = 250
    resume_within: timedelta = timedelta(hours=12)
    max_drop_share: float = 0.2
    drop_min_rows: int = 10
    accept_drops: bool = False
    policy: change_signals.SignalPolicy = field(default_factory=change_signals.SignalPolicy)
    benefits_api: str = "v3"

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
