"""Run scope: which orgs and programs a run covers, named by partition keys like `51135-2568`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

_KEY = re.compile(r"^(\d+)-(\d+)$")


class PartitionKeyError(ValueError):
    """A partition key that does not name an org and a program."""


def partition_key(org_id: int, program_id: int) -> str:
    return f"{org_id}-{program_id}"


def parse_partition_key(key: str) -> tuple[int, int]:
    match = _KEY.match(key.strip())
    if not match:
        raise PartitionKeyError(
            f"partition key {key!r} is not ORG-PROGRAM (two integers, e.g. 51135-2568)"
        )
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class RunScope:
    """What one run syncs: programs grouped by org, so an org's customers are fetched once."""

    run_id: str
    org_programs: dict[int, tuple[int, ...]]
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_partition_keys(cls, run_id: str, keys: Iterable[str]) -> RunScope:
        grouped: dict[int, set[int]] = {}
        for key in keys:
            org_id, program_id = parse_partition_key(key)
            grouped.setdefault(org_id, set()).add(program_id)
        if not grouped:
            raise PartitionKeyError("a run needs at least one org/program partition")
        return cls(run_id, {org: tuple(sorted(p)) for org, p in sorted(grouped.items())})

    @property
    def partition_keys(self) -> list[str]:
        return [
            partition_key(org, program)
            for org, programs in self.org_programs.items()
            for program in programs
        ]

    def keys_of(self, org_id: int) -> list[str]:
        return [partition_key(org_id, p) for p in self.org_programs[org_id]]
