"""The shared model of a sync's progress: statuses, the passes a sync means to make, and
the per-partition tallies every record module reads and writes.

"This pass is done" is stored in two places that answer different questions: the run's
`sync_runs` rows (did this run finish the partition?) and the generation checkpoint (may
a rerun skip the pass?). Both are the same `PassPlan`, serialised two ways, so the rule
"finished when every expected pass is done" lives here once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Rows served per (table, partition key): counted by the chunk that wrote them.
RowTally = Counter[tuple[str, str]]


class SyncStatus(StrEnum):
    """How a partition's sync (or a checkpoint) stands."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    ABANDONED = "abandoned"


class PassState(StrEnum):
    """One pass of a run, in the `passes` column of `sync_runs`."""

    EXPECTED = "expected"
    DONE = "done"


@dataclass
class PassPlan:
    """The passes a sync means to make and those already done."""

    expected: tuple[str, ...]
    done: set[str] = field(default_factory=set)

    @property
    def finished(self) -> bool:
        return self.done >= set(self.expected)

    def tick(self, name: str) -> PassPlan:
        """The plan with `name` done (a pass it did not expect counts for nothing)."""
        return PassPlan(self.expected, {*self.done, name})

    def as_runs_json(self) -> dict[str, str]:
        """`sync_runs.passes`: {pass: expected | done}, every pass done included."""
        names = [*self.expected, *sorted(self.done - set(self.expected))]
        return {
            name: (PassState.DONE if name in self.done else PassState.EXPECTED).value
            for name in names
        }

    @classmethod
    def from_runs_json(cls, stored: Mapping[str, str] | None) -> PassPlan:
        stored = stored or {}
        done = {name for name, state in stored.items() if state == PassState.DONE.value}
        return cls(tuple(stored), done)

    def as_generation_json(self) -> dict[str, list[str]]:
        """A generation checkpoint's cursor: {"passes": [...], "done": [...]}."""
        return {"passes": list(self.expected), "done": sorted(self.done)}

    @classmethod
    def from_generation_json(cls, stored: Mapping[str, Any] | None) -> PassPlan:
        stored = stored or {}
        return cls(tuple(stored.get("passes", [])), set(stored.get("done", [])))


def tally_json(tally: RowTally) -> dict[str, dict[str, int]]:
    """A row tally as stored: {table: {partition key: rows}}."""
    stored: dict[str, dict[str, int]] = {}
    for (table, part), n in tally.items():
        stored.setdefault(table, {})[part] = n
    return stored


def tally_from_json(stored: Mapping[str, Mapping[str, Any]] | None) -> RowTally:
    return Counter(
        {
            (table, part): int(n)
            for table, parts in (stored or {}).items()
            for part, n in parts.items()
        }
    )


def split_evenly(total: int, keys: Sequence[str]) -> dict[str, int]:
    """`total` shared among `keys`, the first ones taking the remainder: the shares sum to it."""
    share, left = divmod(total, max(1, len(keys)))
    return {key: share + (1 if index < left else 0) for index, key in enumerate(keys)}


def as_metadata_counts(counter: Mapping[Any, int]) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(counter.items(), key=lambda kv: str(kv[0]))}


def codes_json(codes: Iterable[tuple[int, int]]) -> dict[str, int]:
    """Codes as `sync_runs.warnings` stores them: string keys, sorted by code."""
    return {str(k): v for k, v in sorted(codes)}
