"""Run scope: which partitions a run covers, under which run id, from when."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
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
    # When the run was asked for (a Dagster run's creation): a pass another run finished
    # after this is as fresh as this run needs (`record.generations.open_generation`).
    requested_at: datetime | None = None

    @classmethod
    def from_partition_keys(
        cls,
        run_id: str,
        keys: Iterable[str],
        passes: Iterable[str] | None = None,
        requested_at: datetime | None = None,
    ) -> RunScope:
        partitions = PartitionScope.from_keys(keys)
        if not partitions:
            raise PartitionKeyError("a run needs at least one org/program partition")
        if passes is None:
            return cls(run_id, partitions, requested_at=requested_at)
        return cls(run_id, partitions, passes=tuple(passes), requested_at=requested_at)

    @property
    def org_programs(self) -> dict[int, tuple[int, ...]]:
        return self.partitions.by_org()

    @property
    def partition_keys(self) -> list[str]:
        return self.partitions.keys

    def only(self, key: str) -> RunScope:
        """This run's scope narrowed to one of its partitions."""
        return replace(self, partitions=PartitionScope.from_keys([key]))

    def keys_of(self, org_id: int) -> list[str]:
        return self.partitions.for_org(org_id).keys
