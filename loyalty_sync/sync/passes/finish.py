"""The end of a pass over an org: judge, then apply, its deletes, in one transaction.

First the negative answers that waited (`verdicts.MassNegatives`): many of them hold back
every delete and overwrite of the pass; a few are written now, like any answer. Then the
drop guard judges the deletes before any is made: one table of one partition losing too
much holds back every delete of the pass. Either guard records api_events with the
numbers, and the rows stay as they were. Rows are deleted only here, inside the
transaction that marks the pass complete, so a pass killed halfway deletes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple

import sqlalchemy as sa

from loyalty_sync.sync.ledger import EventLog, complete_checkpoint
from loyalty_sync.sync.passes.options import PassOptions
from loyalty_sync.sync.passes.spec import Chunk, T
from loyalty_sync.sync.passes.verdicts import MassNegatives
from loyalty_sync.sync.planned import planning
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse.scope import partition_key
from loyalty_sync.warehouse.writer import MergeResult, doomed, replaced, scratch

if TYPE_CHECKING:
    from loyalty_sync.sync.passes.base import OrgPass


@dataclass(frozen=True)
class Deletes:
    """A table whose rows the pass deletes at its end: rows of `alive`'s items stay."""

    table: sa.Table
    item_columns: tuple[str, ...]
    alive: sa.Select[Any]


class Loss(NamedTuple):
    """Rows of one table of one partition a pass would no longer serve."""

    table: str
    org_id: int
    program_id: int
    lost: int
    total: int


class PassEnd(Generic[T]):
    """The end of one org's pass: waiting negatives, then judged deletes."""

    def __init__(
        self,
        engine: sa.Engine,
        scope: RunScope,
        options: PassOptions,
        spec: OrgPass[T],
        negatives: MassNegatives[T],
    ) -> None:
        self.engine, self.scope, self.options = engine, scope, options
        self.spec, self.negatives = spec, negatives
        self.checkpoint, self.outcome = spec.org.checkpoint, spec.org.outcome
        self.partitions = self.checkpoint.partitions

    def apply(self) -> None:
        with self.engine.begin() as conn:
            if self._negatives_held(conn):
                self.spec.after_deletes(conn, True)
                complete_checkpoint(conn, self.checkpoint)
                return
            doomed_by_table, losses = self._judge(conn)
            held_back = bool(losses) and not self.options.accept_drops
            if held_back:
                self._hold_back(conn, losses)
            else:
                self._delete(conn, doomed_by_table)
            self.spec.after_deletes(conn, held_back)
            complete_checkpoint(conn, self.checkpoint)

    def _negatives_held(self, conn: sa.Connection) -> bool:
        """Write the waiting negative answers, or (too many of them) hold the pass back."""
        negatives, checkpoint = self.negatives, self.checkpoint
        if not negatives.waiting:
            return False
        events = EventLog(conn, self.scope)
        if negatives.suspect and not self.options.accept_drops:
            what = negatives.describe(self.spec)
            for org_id in checkpoint.partitions.orgs:
                events.add(
                    endpoint=f"{checkpoint.pass_name}_pass",
                    code=None,
                    kind="warning",
                    message=f"negative guard: {what}; no row of the pass was deleted or "
                    "overwritten with them. If this is genuine, sync again with accept_drops",
                    org_id=org_id,
                )
            self.outcome.add_events(events)
            self.outcome.held_back.append(f"{checkpoint.pass_name}: {what}")
            return True
        work = Chunk(conn, negatives.waiting, events, checkpoint)
        self.spec.write(work)
        for merge in work.merges:
            self.outcome.add_merge(merge)
        self.outcome.add_events(events)
        checkpoint.served.update(work.served)
        return False

    def _judge(self, conn: sa.Connection) -> tuple[list[tuple[sa.Table, Any]], list[Loss]]:
        """Each table's doomed keys (in a scratch table), and the losses too large."""
        doomed_by_table: list[tuple[sa.Table, Any]] = []
        losses: list[Loss] = []
        alive: dict[int, sa.TableClause] = {}
        for deletes in self.spec.deletes():
            table = deletes.table
            if id(deletes.alive) not in alive:  # the items that still exist, computed once
                planning(conn)  # whole partitions: hash joins, whatever the statistics
                items = [table.c[c] for c in deletes.item_columns]
                alive[id(deletes.alive)] = scratch(
                    conn, f"alive_{len(alive)}", deletes.alive, items
                )
            keys = doomed(
                table,
                self.partitions,
                deletes.item_columns,
                alive[id(deletes.alive)],
                self.checkpoint.id,
            )
            doomed_keys = scratch(
                conn, f"doomed_{table.name}", keys, list(table.primary_key.columns)
            )
            doomed_by_table.append((table, doomed_keys))
            losses += self._losses(conn, table, doomed_keys)
        return doomed_by_table, losses

    def _losses(self, conn: sa.Connection, table: sa.Table, doomed_keys: Any) -> list[Loss]:
        """Count what each partition is served, and which would lose too much."""
        partitions, served = self.partitions, self.checkpoint.served
        held = dict(_per_partition(conn, doomed_keys, sa.true()))
        # Rows replaced by a new shape (other settings) are not lost: not judged.
        mine = sa.and_(partitions.where(table), replaced(table, self.checkpoint.id))
        new_shape = dict(_per_partition(conn, table, mine))
        for pair in partitions.pairs:  # what each partition is served, deletes or not
            served[(table.name, partition_key(*pair))] = 0
        losses = []
        for pair, total in _per_partition(conn, table, partitions.where(table)):
            gone = held.get(pair, 0)
            # Rows served: fetched this time or kept as fresh, less what is gone.
            served[(table.name, partition_key(*pair))] = total - gone
            lost = gone - new_shape.get(pair, 0)
            options = self.options
            if total >= options.drop_min_rows and lost > options.max_drop_share * total:
                losses.append(Loss(table.name, *pair, lost, total))
        return losses

    def _hold_back(self, conn: sa.Connection, losses: list[Loss]) -> None:
        """The drop guard's verdict: nothing deleted, each loss recorded with its numbers."""
        events = EventLog(conn, self.scope)
        for loss in losses:
            part = partition_key(loss.org_id, loss.program_id)
            events.add(
                endpoint=f"{self.checkpoint.pass_name}_pass",
                code=None,
                kind="warning",
                message=(
                    f"drop guard: {loss.lost} of {loss.total} rows of {loss.table} in partition "
                    f"{part} are no longer served (more than "
                    f"{self.options.max_drop_share:.0%}); no row of the pass was deleted. If the "
                    "drop is genuine, sync again with accept_drops"
                ),
                org_id=loss.org_id,
                program_id=loss.program_id,
            )
        self.outcome.add_events(events)
        self.outcome.held_back.extend(
            f"{loss.table} {partition_key(loss.org_id, loss.program_id)}: "
            f"{loss.lost} of {loss.total}"
            for loss in losses
        )

    def _delete(self, conn: sa.Connection, doomed_by_table: list[tuple[sa.Table, Any]]) -> None:
        planning(conn, nested_loops=True)  # a few doomed keys: index lookups
        for table, gone in doomed_by_table:
            key = list(table.primary_key.columns)
            condition = sa.tuple_(*key).in_(sa.select(*(gone.c[c.name] for c in key)))
            deleted = int(conn.execute(sa.delete(table).where(condition)).rowcount or 0)
            self.outcome.add_merge(MergeResult(table.name, 0, 0, 0, deleted))


def _per_partition(
    conn: sa.Connection, table: sa.FromClause, condition: sa.ColumnElement[bool]
) -> list[tuple[tuple[int, int], int]]:
    rows = conn.execute(
        sa.select(table.c.org_id, table.c.program_id, sa.func.count())
        .where(condition)
        .group_by(table.c.org_id, table.c.program_id)
    )
    return [((int(o), int(p)), int(n)) for o, p, n in rows]
