"""Refreshing `promotion_performance`: only the promotions whose inputs changed.

Recomputing every promotion on every sync reads every synced row of the run's partitions,
so a sync that changed a hundred members costs as much as the warehouse is big. A
promotion's figures depend only on its own rows (its holders, their summaries and
benefits, their enrolment, its `promotions` row), so only promotions with such a row
written or deleted need computing again; the others' stored figures are still exact.

How the refresh learns what changed: triggers on the seven input tables (migration 0010)
mark the promotion of every row inserted, updated or deleted, in the transaction that
writes it, into `promotion_performance_changes`. Not the sync's own account of its
merges: deletes happen in several places (a chunk's merge, the end of a pass, a partition
emptied by hand), and a list kept in Python is lost with the run that kept it, while a
mark is committed with the change or not at all. An enrolment change marks every
promotion the member holds; a points or tier change marks nothing (it counts nowhere).
Marks are taken (deleted) in the report's transaction: a report that fails returns them.
A partition the report holds no row of yet, or a `--full` run, is computed whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from loyalty_sync.reports.promotion_performance import as_frame, as_rows, computed
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope
from loyalty_sync.warehouse.writer import WRITER_COLUMNS, MergeResult, StagedMerge

Key = tuple[int, int, int]  # (org_id, program_id, promotion_id)


@dataclass(frozen=True)
class Changed:
    """The promotions a refresh recomputes: whole partitions, and marked promotions."""

    scope: PartitionScope
    whole: PartitionScope
    keys: tuple[Key, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.whole) or bool(self.keys)

    def where(self, rows: sa.FromClause) -> sa.ColumnElement[bool]:
        c: Any = rows.c
        marked = sa.tuple_(c.org_id, c.program_id, c.promotion_id).in_(self.keys)
        picked = sa.or_(self.whole.where(rows), marked) if self.keys else self.whole.where(rows)
        return sa.and_(self.scope.where(rows), picked)


def take_marks(conn: sa.Connection, scope: PartitionScope) -> list[Key]:
    """The promotions of `scope` marked as changed, unmarked (until this transaction ends)."""
    m = tables.promotion_performance_changes
    taken = conn.execute(
        sa.delete(m).where(scope.where(m)).returning(m.c.org_id, m.c.program_id, m.c.promotion_id)
    )
    return sorted((int(o), int(p), int(k)) for o, p, k in taken)


def unreported(conn: sa.Connection, scope: PartitionScope) -> PartitionScope:
    """Partitions of `scope` the report holds no row of: never computed, so computed whole."""
    pp = tables.promotion_performance
    held = conn.execute(
        sa.select(pp.c.org_id, pp.c.program_id).where(scope.where(pp)).distinct()
    ).all()
    return PartitionScope.of(pair for pair in scope if pair not in {(o, p) for o, p in held})


def refresh(
    conn: sa.Connection, scope: PartitionScope, *, run_id: str, full: bool = False
) -> MergeResult:
    """Bring the stored report of `scope` up to date: upsert what changed, drop the gone."""
    pp = tables.promotion_performance
    marked = take_marks(conn, scope)
    changed = Changed(scope, scope if full else unreported(conn, scope), tuple(marked))
    if not changed:
        return MergeResult(pp.name, 0, 0, 0, 0)
    staged = StagedMerge(conn, pp, run_id=run_id)
    staged.add(as_rows(computed(conn, changed)))
    upserted = staged.finish()
    p = tables.promotions
    still = sa.select(sa.literal(1)).where(
        *(p.c[k] == pp.c[k] for k in ("org_id", "program_id", "promotion_id"))
    )
    gone = conn.execute(sa.delete(pp).where(changed.where(pp), ~still.exists())).rowcount
    return MergeResult(pp.name, upserted.staged, upserted.inserted, upserted.updated, int(gone))


def stored(conn: sa.Connection, scope: PartitionScope) -> pd.DataFrame:
    """The stored report of `scope`, as `computed` gives it: one row per promotion."""
    pp = tables.promotion_performance
    columns = [c for c in pp.columns if c.name not in WRITER_COLUMNS]
    query = sa.select(*columns).where(scope.where(pp)).order_by(*pp.primary_key.columns)
    return as_frame(conn.execute(query))
