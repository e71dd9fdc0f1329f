"""The items a change-driven pass fetches, streamed in its order, each with its reason.

A pass's query selects every item with the item's stored signature and why it would be
fetched (`change_signals.Reason`). This counts them by reason once, streams the ones to fetch
after a checkpoint's cursor, and, when a chunk is written, notes what was fetched and
whether a sampled item had in fact changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from loyalty_sync.sync import change_signals
from loyalty_sync.sync.change_signals import Item, Reason, Signals
from loyalty_sync.sync.ledger import PassOutcome


def streamed(reader: sa.Connection, query: sa.Select[Any]) -> Iterator[sa.Row[Any]]:
    """Rows of `query` from a server-side cursor: a roster of any size in constant memory."""
    yield from reader.execution_options(stream_results=True, yield_per=2000).execute(query)


def after(query: sa.Select[Any], order: list[sa.ColumnElement[Any]], cursor: list[Any] | None):
    """`query` in `order`, from just after `cursor` (a checkpoint's sort key)."""
    if cursor is not None:
        query = query.where(sa.tuple_(*order) > sa.tuple_(*cursor))
    return query.order_by(*order)


def planning(conn: sa.Connection, *, nested_loops: bool = False) -> None:
    """Plan this transaction's queries without nested loops (until told otherwise).

    A planning query joins every item of a partition to its state, its program details and
    its promotion. On statistics gathered before the tables grew (a first sync, a day of
    churn before autovacuum caught up) the planner guesses a handful of rows per partition
    and picks a nested loop that reads the inner side again for each outer row: quadratic,
    seconds at a thousand customers and days at a million. Hash and merge joins cost one
    pass over each side whatever the estimates; these queries read whole partitions, where
    they are the right choice anyway.
    """
    conn.execute(sa.text(f"SET LOCAL enable_nestloop = {'on' if nested_loops else 'off'}"))


class PlannedItems:
    """Items of `query` (item columns, then `signature`, then `reason`) a pass fetches.

    `order` names the item columns in the pass's sort order. Streamed items are tuples of
    the item columns; their reasons wait in memory until their chunk is written.
    """

    def __init__(self, engine: sa.Engine, query: sa.Select[Any], order: list[str]) -> None:
        sub = query.subquery()
        columns = list(sub.c)
        self._item = columns[:-2]
        self._order = [sub.c[name] for name in order]
        signature, reason = columns[-2], columns[-1]
        self.count_query = change_signals.reasons_query(sa.select(*self._item, reason))
        with engine.connect() as conn:
            planning(conn)
            counts = change_signals.count_reasons(conn, self.count_query)
        skipped = Counter({r: counts.pop(r) for r in change_signals.SKIPPED if r in counts})
        self.signals = Signals(fetched=counts, skipped_by_reason=skipped)
        self.total = counts.total()
        to_fetch = reason.not_in(change_signals.SKIPPED)
        self._query = sa.select(*self._item, signature, reason).where(to_fetch)
        self.fetch_query = after(self._query, self._order, None)
        self._why: dict[tuple[int, ...], tuple[str, str | None]] = {}

    def items_after(self, reader: sa.Connection, cursor: list[Any] | None) -> Iterator[tuple]:
        planning(reader)
        for row in streamed(reader, after(self._query, self._order, cursor)):
            item = tuple(int(v) for v in row[:-2])
            self._why[item] = (row[-1], row[-2])
            yield item

    def reshaped(self, items: list[Item]) -> list[Item]:
        """The `items` fetched because the settings changed: their rows are replaced."""
        changed = Reason.SETTINGS_CHANGED.value
        return [item for item in items if self._why.get(item, ("",))[0] == changed]

    def note(
        self,
        conn: sa.Connection,
        org_id: int,
        pass_name: str,
        plan: change_signals.Plan,
        fetched: dict[Item, list[dict[str, Any]]],
        outcome: PassOutcome,
        key: Any = None,
    ) -> None:
        """Record what a chunk fetched; a sampled item whose rows differ is drift.

        `key` turns an `Item` into the streamed item's tuple (the pass's own shape).
        """
        done: list[tuple[Item, str]] = []
        for item, rows in fetched.items():
            signature = change_signals.signature(rows)
            done.append((item, signature))
            reason, before = self._why.pop(key(item) if key else item, (Reason.RETRY, None))
            if reason == Reason.SAMPLE:
                signals = outcome.org_signals(org_id)
                signals.sampled += 1
                signals.sampled_changed += int(signature != before)
        change_signals.record(conn, org_id, pass_name, plan, done)
