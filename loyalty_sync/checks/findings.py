"""What a data-quality rule found: offending rows counted by partition, and the first few.

The rules (`tier_anomalies.py`, `no_benefits.py`, `sync_health.py`) are plain SQL over the
warehouse so they can be tested without Dagster; the asset checks (`defs/checks/`) turn
a finding into a check result and its metadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from loyalty_sync.warehouse.scope import partition_key

# Rules fetch at most this many offending rows: enough to name every offender of a small
# partition, few enough to keep check metadata light.
LIST_LIMIT = 100


class Severity(StrEnum):
    """A failed rule's weight, spelled as Dagster's check severities are."""

    ERROR = "ERROR"
    WARN = "WARN"


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


def format_value(value: Any) -> Any:
    """A JSON- and markdown-friendly form: numbers without trailing zeros, ISO times."""
    if isinstance(value, Decimal):
        normal = value.normalize()
        return format(normal, "f") if normal == normal.to_integral_value() else str(normal)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
