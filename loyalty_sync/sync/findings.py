"""What a data-quality rule found: offending rows counted by partition, and the first few.

The rules (`anomalies.py`, `no_benefits.py`, `sync_health.py`) are plain SQL over the
warehouse so they can be tested without Dagster; the asset checks (`defs/checks.py`) turn
a finding into a check result and its metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from loyalty_sync.sync.scope import partition_key

# Rules fetch at most this many offending rows: enough to name every offender of a small
# partition, few enough to keep check metadata light.
LIST_LIMIT = 100

Pair = tuple[int, int]  # (org_id, program_id)


@dataclass(frozen=True)
class Offender:
    """One offending row: whose it is and the values that make it offend."""

    org_id: int
    program_id: int
    customer_id: int | None = None
    promotion_id: int | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def partition_key(self) -> str:
        return partition_key(self.org_id, self.program_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "org": self.org_id,
            "program": self.program_id,
            "customer": self.customer_id,
            "promotion": self.promotion_id,
            **{k: format_value(v) for k, v in self.values.items()},
        }


@dataclass(frozen=True)
class Finding:
    """Offenders of one rule among `judged` rows, counted per partition key."""

    rule: str
    judged: int
    by_partition: Mapping[str, int]
    offenders: Sequence[Offender]

    @property
    def count(self) -> int:
        return sum(self.by_partition.values())

    @property
    def share(self) -> float:
        return self.count / self.judged if self.judged else 0.0

    @property
    def passed(self) -> bool:
        return self.count == 0


def in_scope(
    org: sa.ColumnElement[Any], program: sa.ColumnElement[Any], pairs: Iterable[Pair]
) -> sa.ColumnElement[bool]:
    """`(org, program) IN pairs`; false when there are none, so an empty scope finds nothing."""
    chosen = sorted(set(pairs))
    if not chosen:
        return sa.false()
    return sa.tuple_(org, program).in_(chosen)


def format_value(value: Any) -> Any:
    """A JSON- and markdown-friendly form: numbers without trailing zeros, ISO times."""
    if isinstance(value, Decimal):
        normal = value.normalize()
        return format(normal, "f") if normal == normal.to_integral_value() else str(normal)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
