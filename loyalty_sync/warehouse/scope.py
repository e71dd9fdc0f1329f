"""`PartitionScope`: "the rows of these org/program partitions", the one way to say it.

Every merge, delete, count, sample and rule selects rows through this object, so they
cannot disagree on what a partition holds. A program-level table (one with `program_id`)
is scoped by the exact (org, program) pairs; scoping by org IN x program IN instead would
be a cross product and take in rows of other partitions. An org-level table (customers,
the roster) is scoped by org. An empty scope selects nothing, never everything.

A partition key names an org and a program, `51135-2568`: human readable, and free of
the characters (`| , [ ]`) Dagster's multi-partition keys and ranges reserve.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

Pair = tuple[int, int]  # (org_id, program_id)

_KEY = re.compile(r"^([0-9]+)-([0-9]+)$")


class PartitionKeyError(ValueError):
    """A partition key that does not name an org and a program."""


def partition_key(org_id: int, program_id: int) -> str:
    return f"{org_id}-{program_id}"


def parse_partition_key(key: str) -> Pair:
    match = _KEY.match(key.strip())
    if not match:
        raise PartitionKeyError(
            f"partition key {key!r} is not ORG-PROGRAM (two integers, e.g. 51135-2568)"
        )
    return int(match.group(1)), int(match.group(2))


INVALID_KEY_HINT = "remove it with `loyalty-sync partitions remove {key}`"


def split_partition_keys(keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """`keys` as (the valid ORG-PROGRAM keys, the others), each in the order given.

    Anyone can add a partition key from the Dagster UI's launch dialog; whatever reads the
    instance's keys reports the invalid ones instead of failing on them.
    """
    valid: list[str] = []
    invalid: list[str] = []
    for key in keys:
        (valid if _KEY.match(key.strip()) else invalid).append(key)
    return valid, invalid


@dataclass(frozen=True)
class PartitionScope:
    """A set of org/program partitions, sorted, each pair once."""

    pairs: tuple[Pair, ...] = ()

    @classmethod
    def of(cls, pairs: Iterable[Pair]) -> PartitionScope:
        return cls(tuple(sorted({(int(org), int(program)) for org, program in pairs})))

    @classmethod
    def from_keys(cls, keys: Iterable[str]) -> PartitionScope:
        return cls.of(parse_partition_key(key) for key in keys)

    @classmethod
    def org(cls, org_id: int, programs: Iterable[int]) -> PartitionScope:
        return cls.of((org_id, program) for program in programs)

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __contains__(self, pair: object) -> bool:
        return pair in self.pairs

    @property
    def keys(self) -> list[str]:
        return [partition_key(org, program) for org, program in self.pairs]

    @property
    def orgs(self) -> tuple[int, ...]:
        return tuple(sorted({org for org, _ in self.pairs}))

    def by_org(self) -> dict[int, tuple[int, ...]]:
        """Programs grouped by org, so an org's customers can be fetched once."""
        grouped: dict[int, tuple[int, ...]] = {}
        for org, program in self.pairs:
            grouped[org] = (*grouped.get(org, ()), program)
        return grouped

    def for_org(self, org_id: int) -> PartitionScope:
        return PartitionScope(tuple(p for p in self.pairs if p[0] == org_id))

    def programs_of(self, org_id: int) -> tuple[int, ...]:
        return tuple(program for org, program in self.pairs if org == org_id)

    def where(self, rows: sa.FromClause) -> sa.ColumnElement[bool]:
        """The condition selecting this scope's rows of `rows` (a table, alias or subquery)."""
        columns: Any = rows.c
        if not self.pairs:
            return sa.false()
        if "program_id" not in columns:
            return columns.org_id.in_(self.orgs)
        return sa.tuple_(columns.org_id, columns.program_id).in_(self.pairs)
