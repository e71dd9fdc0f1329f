"""What one pass did over a run scope: the figures its metadata and `sync_runs` report.

The pass fills it as it goes; nothing here is recounted afterwards. An org's calls are
attributed to the org's partitions once (`calls_by_partition`), and both `sync_runs` and
each partition's materialisation take that one attribution.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loyalty_sync.capillary.stats import ApiCounts
from loyalty_sync.sync.change_signals import Signals
from loyalty_sync.sync.record.events import EventLog, PlacedCodes
from loyalty_sync.sync.record.model import RowTally, split_evenly
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse.writer import MergeResult


@dataclass(frozen=True)
class PartitionCalls:
    """A partition's share of its org's calls and retries in one pass."""

    calls: int = 0
    retries: int = 0


@dataclass
class PassOutcome:
    """Totals of one pass over a run scope, for asset metadata and sync_runs."""

    merges: dict[str, MergeResult] = field(default_factory=dict)
    rows_by_partition: RowTally = field(default_factory=Counter)
    codes: Counter[int] = field(default_factory=Counter)
    placed_codes: PlacedCodes = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    retries: int = 0
    # Each org's calls, retries and 429s: what its progress bar shows, and what the
    # org's partitions share in sync_runs.
    spent_by_org: dict[int, ApiCounts] = field(default_factory=dict)
    api: dict[str, Any] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)
    set_aside: int = 0
    quarantined: int = 0  # items whose answers could not be used (passes/verdicts.py)
    # What each org's change signals did (an org's customers are fetched once for all
    # of its programs, so the figures are the org's).
    signals_by_org: dict[int, Signals] = field(default_factory=dict)

    @property
    def signals(self) -> Signals:
        total = Signals()
        for figures in self.signals_by_org.values():
            total.add(figures)
        return total

    def org_signals(self, org_id: int) -> Signals:
        return self.signals_by_org.setdefault(org_id, Signals())

    def add_events(self, events: EventLog) -> None:
        events.flush()
        self.codes.update(events.codes)
        self.placed_codes.update(events.placed)

    def codes_for(self, org_id: int, key: str) -> Counter[int]:
        """Codes met in partition `key`, plus the org-level ones (a customer not found)."""
        return Counter(
            {
                code: n
                for (org, placed, code), n in self.placed_codes.items()
                if placed == key or (placed is None and org == org_id)
            }
        )

    def rows_of(self, key: str, family: Sequence[str] = ()) -> dict[str, int]:
        """Rows partition `key` was served per table; a family table that served none is 0."""
        rows = dict.fromkeys(family, 0)
        rows.update(
            {table: n for (table, part), n in self.rows_by_partition.items() if part == key}
        )
        return rows

    def calls_by_partition(self, scope: RunScope) -> dict[str, PartitionCalls]:
        """Partition key -> its share of its org's calls and retries in this pass.

        One lookup serves every program of an org, so an org's calls belong to no single
        partition: they are split evenly among the org's partitions in the run, so the
        partitions sum to the calls made and to what the org's progress bar showed.
        """
        shares: dict[str, PartitionCalls] = {}
        for org_id, spent in self.spent_by_org.items():
            keys = scope.keys_of(org_id)
            calls, retries = split_evenly(spent.calls, keys), split_evenly(spent.retries, keys)
            shares |= {key: PartitionCalls(calls[key], retries[key]) for key in keys}
        return shares

    def add_merge(self, result: MergeResult) -> None:
        previous = self.merges.get(result.table)
        if previous is None:
            self.merges[result.table] = result
            return
        self.merges[result.table] = MergeResult(
            table=result.table,
            staged=previous.staged + result.staged,
            inserted=previous.inserted + result.inserted,
            updated=previous.updated + result.updated,
            deleted=previous.deleted + result.deleted,
        )
