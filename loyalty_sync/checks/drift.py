"""What the change signals missed: the drift sample of each sync, per partition.

A change-driven pass fetches a daily sample of the items it would have skipped and
compares each answer's rows with the stored ones (`sync/change_signals.py`). The share of
sampled items that had changed estimates the share of all skipped items that had: the
changes no cheap signal sees, waiting for their max age.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope


@dataclass(frozen=True)
class Drift:
    partition_key: str
    run_id: str | None
    sampled: int
    changed: int
    skipped: int

    @property
    def share(self) -> float:
        return self.changed / self.sampled if self.sampled else 0.0

    @property
    def missed_estimate(self) -> int:
        """Skipped items likely changed, were the sample's share true of all of them."""
        return round(self.share * self.skipped)


def drift(
    conn: sa.Connection, pass_name: str, scope: PartitionScope, run_id: str | None = None
) -> list[Drift]:
    """Each partition's drift sample in `run_id`'s sync, else in its latest that had one."""
    s = tables.sync_runs
    figures = s.c.signals[pass_name]
    query = (
        sa.select(s.c.partition_key, s.c.run_id, figures.label("figures"))
        .where(scope.where(s), figures.is_not(None))
        .order_by(s.c.partition_key, (s.c.run_id == (run_id or "")).desc(), s.c.started_at.desc())
        .distinct(s.c.partition_key)
    )
    found = {row.partition_key: row for row in conn.execute(query)}
    result = []
    for key in scope.keys:
        row = found.get(key)
        got = dict(row.figures) if row is not None else {}
        result.append(
            Drift(
                key,
                row.run_id if row is not None else None,
                int(got.get("sampled", 0)),
                int(got.get("sampled_changed", 0)),
                int(got.get("skipped", 0)),
            )
        )
    return result
