"""Run scope: which partitions a run covers, under which run id, from when."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from loyalty_sync.warehouse.scope import PartitionKeyError, PartitionScope


@dataclass(frozen=True)
class RunScope:
    """What one run syncs: its partitions (grouped by org, so an org's customers are
    fetched once), its run id, and the time its rows are stamped with."""

    run_id: str
    partitions: PartitionScope
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The passes this run makes (customers, promotions, benefits), in order.
    passes: tuple[str, ...] = ("customers", "promotions", "benefits")

    @classmethod
    def from_partition_keys(
        cls, run_id: str, keys: Iterable[str], passes: Iterable[str] | None = None
    ) -> RunScope:
        partitions = PartitionScope.from_keys(keys)
        if not partitions:
            raise PartitionKeyError("a run needs at least one org/program partition")
        if passes is None:
            return cls(run_id, partitions)
        return cls(run_id, partitions, passes=tuple(passes))

    @property
    def org_programs(self) -> dict[int, tuple[int, ...]]:
        return self.partitions.by_org()

    @property
    def partition_keys(self) -> list[str]:
        return self.partitions.keys

    def keys_of(self, org_id: int) -> list[str]:
        return self.partitions.for_org(org_id).keys
