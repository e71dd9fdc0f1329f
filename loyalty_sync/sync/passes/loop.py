"""The loop over a run's orgs that every pass shares: generation, checkpoint, progress.

Each org's pass is one progress task, started before its first call (the catalogue
read) and finished after its last with the calls recorded for the org, so the bar, the
metadata and `sync_runs` count the same calls. A pass another run of the same
partitions already finished within the resume window is skipped, and what it served
is reported as this run's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from loyalty_sync.capillary.client import CapillaryClient
from loyalty_sync.capillary.stats import ApiCounts
from loyalty_sync.sync.ledger import (
    Checkpoint,
    Generation,
    PassOutcome,
    generation_pass_done,
    open_checkpoint,
    open_generation,
    served_by,
)
from loyalty_sync.sync.passes.options import PassOptions
from loyalty_sync.sync.progress import reporter
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse import statistics, tables
from loyalty_sync.warehouse.scope import PartitionScope

if TYPE_CHECKING:
    from loyalty_sync.sync.passes.base import OrgPass


@dataclass(frozen=True)
class PassRun:
    """What every org of one pass shares: where rows go, where answers come from, how."""

    engine: sa.Engine
    client: CapillaryClient
    scope: RunScope
    options: PassOptions


@dataclass(frozen=True)
class OrgWork:
    """One org's share of a pass: its partitions, its checkpoint, the pass's totals."""

    org_id: int
    partitions: PartitionScope
    checkpoint: Checkpoint
    outcome: PassOutcome


class PassLoop:
    """Runs one pass (`pass_type`) for each org of the run, each from its own checkpoint."""

    def __init__(self, pass_type: type[OrgPass[Any]], run: PassRun) -> None:
        self.pass_type, self.run = pass_type, run
        self.name = pass_type.name
        self.outcome = PassOutcome()

    def run_all(self) -> PassOutcome:
        client = self.run.client
        reporter().count_calls_with(client.stats.counts)
        before = client.stats.snapshot()
        for org_id in self.run.scope.partitions.orgs:
            self.run_org(org_id)
        after = client.stats.snapshot()
        self.outcome.calls = after["calls"] - before["calls"]
        self.outcome.retries = after["retries"] - before["retries"]
        self.outcome.api = after
        return self.outcome

    def run_org(self, org_id: int) -> None:
        """One org's pass, unless another run of its partitions already finished it."""
        run, outcome = self.run, self.outcome
        partitions = run.scope.partitions.for_org(org_id)
        generation = open_generation(
            run.engine,
            partitions,
            run.scope.run_id,
            run.scope.passes,
            run.options.resume_within,
            None if run.options.policy.full else run.scope.requested_at,
        )
        if self.name in generation.done:
            self._skip(org_id, partitions, generation)
            return
        checkpoint = open_checkpoint(
            run.engine, self.name, partitions, run.scope.run_id, run.options.resume_within
        )
        if checkpoint.resumed:
            outcome.resumed.append(f"org {org_id} after {checkpoint.items_done} item(s)")
        spent = self._sync(OrgWork(org_id, partitions, checkpoint, outcome))
        outcome.spent_by_org[org_id] = spent
        self._estimate_full_calls(org_id, spent)
        outcome.rows_by_partition.update(checkpoint.served)
        generation_pass_done(run.engine, generation, self.name)

    def _skip(self, org_id: int, partitions: PartitionScope, generation: Generation) -> None:
        # Another run of these partitions finished this pass: one that died or is still
        # running (within the resume window), or one this run waited behind.
        when = generation.done_by(datetime.now(UTC))
        self.outcome.resumed.append(f"org {org_id}: {self.name} pass {when}, skipped")
        self.outcome.rows_by_partition.update(served_by(self.run.engine, self.name, partitions))

    def _sync(self, org: OrgWork) -> ApiCounts:
        """The org's pass as one progress task; returns the calls it made."""
        client, progress = self.run.client, reporter()
        task = f"{self.name} {org.org_id}"
        counts_before = client.stats.counts()
        written_before = written(self.outcome)
        progress.start(task)
        self.pass_type(self.run, org).sync_org()
        statistics.refresh(self.run.engine, written(self.outcome) - written_before)
        spent = client.stats.counts().since(counts_before)
        progress.finish(task, spent)
        return spent

    def _estimate_full_calls(self, org_id: int, spent: ApiCounts) -> None:
        """A full sync's calls: these, plus each skipped item at what a fetched one cost."""
        signals = self.outcome.org_signals(org_id)
        fetched = sum(signals.fetched.values())
        per_item = spent.calls / fetched if fetched else 1.0
        signals.full_calls = spent.calls + round(signals.skipped * per_item)


def written(outcome: PassOutcome) -> Counter[str]:
    """Rows a pass wrote so far, per table; the item states its fetches recorded among them."""
    counts = Counter({name: merge.written for name, merge in outcome.merges.items()})
    counts[tables.sync_item_state.name] = outcome.signals.fetched.total()
    return counts
