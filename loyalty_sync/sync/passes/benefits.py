"""The benefits pass: actionSummary per eligible pair -> summaries, points, currencies,
incentives.

actionSummary is asked only for pairs it can answer (`benefit_pairs.py`). Change-driven:
only pairs whose signals say they may have changed are fetched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from loyalty_sync.capillary.errors import NotFound
from loyalty_sync.sync import change_signals
from loyalty_sync.sync import rows as to_rows
from loyalty_sync.sync.passes.base import OrgPass
from loyalty_sync.sync.passes.benefit_pairs import (
    BENEFIT_ORDER,
    BENEFIT_TABLES,
    PAIR,
    Pair,
    benefit_pairs_query,
    pairs_to_fetch,
    with_benefits,
)
from loyalty_sync.sync.passes.finish import Deletes
from loyalty_sync.sync.passes.plans import count, org_plan
from loyalty_sync.sync.passes.spec import Chunk
from loyalty_sync.sync.planned import PlannedItems
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import partition_key
from loyalty_sync.warehouse.writer import StagedMerge

Rows = dict[str, list[dict[str, Any]]]


class BenefitsPass(OrgPass[Pair]):
    """actionSummary per eligible pair -> summaries, points, currencies, incentives."""

    name = "benefits"
    tables = BENEFIT_TABLES

    def prepare(self) -> None:
        run, org_id = self.run, self.org_id
        self.api_version = run.options.benefits_api
        self.pairs = benefit_pairs_query(self.partitions)
        # The two flavours store different rows (v2's rewards and badges are incentives).
        settings = f"actionSummary {self.api_version}"
        self.plan = org_plan(
            run.engine, run.client, run.scope, org_id, run.options.policy, settings
        )
        query = pairs_to_fetch(org_id, self.partitions, self.plan)
        self.planned = PlannedItems(run.engine, query, BENEFIT_ORDER)
        self._count_not_asked(self.planned.signals.items)
        self.org.outcome.org_signals(org_id).add(self.planned.signals)
        self.total = self.planned.total

    def _count_not_asked(self, eligible: int) -> None:
        """Held pairs actionSummary cannot answer (`eligible`: fetched or skipped)."""
        cp = tables.customer_promotions
        held = count(self.run.engine, sa.select(cp.c.customer_id).where(self.partitions.where(cp)))
        self.org.outcome.skipped["not_enrolled_or_ended_before_cutoff"] += held - eligible

    def items_after(self, reader: sa.Connection, cursor: list[Any] | None) -> Iterator[Pair]:
        return (Pair(*item) for item in self.planned.items_after(reader, cursor))

    def cursor_of(self, item: Pair) -> list[Any]:
        return [getattr(item, name) for name in BENEFIT_ORDER]

    def item_from_key(self, key: list[Any]) -> Pair:
        return Pair(*(int(v) for v in key))

    def fetch(self, item: Pair) -> Any:
        client = self.run.client
        customer_id, program_id, promotion_id = item
        if self.api_version == "v3":
            return client.action_summary_v3(self.org_id, customer_id, program_id, promotion_id)
        return client.action_summary_v2(
            self.org_id, "id", customer_id, program_id, promotion_id=promotion_id
        )

    def context_of(self, item: Pair) -> dict[str, int | None]:
        return dict(item._asdict())

    def write(self, chunk: Chunk[Pair]) -> None:
        batch: Rows = {t.name: [] for t in BENEFIT_TABLES}
        fetched: dict[Pair, list[dict[str, Any]]] = {}
        for pair, answer in chunk.answered:
            if not isinstance(answer, Exception):
                fetched[pair] = self._map(chunk, pair, answer, batch)
        answered = [pair for pair, _ in chunk.answered]
        held = chunk.held(PAIR, answered, self.planned.reshaped(answered))
        for table in BENEFIT_TABLES:
            staged = StagedMerge(
                chunk.conn, table, run_id=self.run.scope.run_id, scope=self.partitions
            )
            staged.add(batch[table.name])
            chunk.merges.append(staged.finish(held))
        self.planned.note(chunk.conn, self.org_id, "benefits", self.plan, fetched, self.org.outcome)

    def _map(self, chunk: Chunk[Pair], pair: Pair, answer: Any, batch: Rows) -> list[Any]:
        """One answer's rows into `batch`; its warnings into api_events; its own rows."""
        for warning in answer.warnings:
            chunk.events.add(
                endpoint=f"action_summary_{self.api_version}",
                code=warning.code,
                kind="warning",
                message=warning.message,
                org_id=self.org_id,
                **pair._asdict(),
            )
        version = self.api_version
        produced = to_rows.summary_rows(self.org_id, *_in_call_order(pair), answer, version)
        part = partition_key(self.org_id, pair.program_id)
        mine: list[dict[str, Any]] = []
        for name, rows in produced.tables():
            batch[name].extend(rows)
            mine.extend({"table": name, **row} for row in rows)
            chunk.served[(name, part)] += len(rows)
        return mine

    def quarantine(self, conn: sa.Connection, items: list[Pair]) -> None:
        change_signals.quarantine(conn, self.org_id, "benefits", items)

    def contradicts(self, conn: sa.Connection, answered: list[tuple[Pair, Any]]) -> set[Pair]:
        """Pairs answered "not found" or "no benefits" (8116) whose stored rows show any."""
        negative = [
            pair
            for pair, answer in answered
            if isinstance(answer, NotFound)
            or (not isinstance(answer, Exception) and answer.no_benefits)
        ]
        if not negative:
            return set()
        return with_benefits(conn, self.partitions, negative)

    def deletes(self) -> list[Deletes]:
        return [Deletes(t, PAIR, self.pairs) for t in BENEFIT_TABLES]


def _in_call_order(pair: Pair) -> tuple[int, int, int]:
    """(program, customer, promotion): the order `rows.summary_rows` takes them in."""
    return pair.program_id, pair.customer_id, pair.promotion_id


def _in_call_order(pair: Pair) -> tuple[int, int, int]:
    """(program, customer, promotion): the order `rows.summary_rows` takes them in."""
    return pair.program_id, pair.customer_id, pair.promotion_id
