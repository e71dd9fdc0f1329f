"""Planning queries on stale statistics, and the statistics a pass keeps fresh.

The tables are filled in SQL with autovacuum off and no ANALYZE, the state a warehouse is
in when a sync plans before autovacuum caught up: the planner then guesses a handful of
rows per partition, and a nested loop whose inner side is scanned again for every outer
row turns a planning query quadratic. The plans are read from `EXPLAIN (ANALYZE, FORMAT
JSON)`: counted rows, not timings, so the test holds under any load.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from loyalty_sync.sync import change_signals, planned
from loyalty_sync.sync.passes import BENEFIT_ORDER, PROMOTION_ORDER
from loyalty_sync.sync.passes.benefit_pairs import pairs_to_fetch
from loyalty_sync.sync.passes.promotion_queries import customers_to_fetch
from loyalty_sync.warehouse import statistics, tables
from loyalty_sync.warehouse.scope import PartitionScope

ORG, PROGRAM = 7, 70
CUSTOMERS, PROMOTIONS, HELD = 2_000, 20, 10  # each customer holds 10 of 20 promotions
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
FILLED = (
    tables.customer_roster,
    tables.customers,
    tables.loyalty_program_details,
    tables.promotions,
    tables.customer_promotions,
    tables.sync_item_state,
)

FILL = [
    f"""INSERT INTO capillary.customer_roster
        (org_id, source, identifier_name, identifier_value, customer_id, lookup_status,
         synced_at, run_id)
        SELECT {ORG}, 'INSTORE', 'mobile', 'm' || i, i, 'found', :t, 'r'
        FROM generate_series(1, {CUSTOMERS}) i""",
    f"""INSERT INTO capillary.customers (org_id, customer_id, synced_at, run_id)
        SELECT {ORG}, i, :t, 'r' FROM generate_series(1, {CUSTOMERS}) i""",
    f"""INSERT INTO capillary.loyalty_program_details
        (org_id, program_id, customer_id, loyalty_id, synced_at, run_id)
        SELECT {ORG}, {PROGRAM}, i, i, :t, 'r' FROM generate_series(1, {CUSTOMERS}) i""",
    f"""INSERT INTO capillary.promotions (org_id, program_id, promotion_id, synced_at, run_id)
        SELECT {ORG}, {PROGRAM}, 100 + p, :t, 'r' FROM generate_series(1, {PROMOTIONS}) p""",
    f"""INSERT INTO capillary.customer_promotions
        (org_id, program_id, customer_id, promotion_id, synced_at, run_id)
        SELECT {ORG}, {PROGRAM}, i, 100 + p, :t, 'r'
        FROM generate_series(1, {CUSTOMERS}) i, generate_series(1, {PROMOTIONS}) p
        WHERE (i + p) % {PROMOTIONS // HELD} = 0""",
    f"""INSERT INTO capillary.sync_item_state
        (org_id, pass_name, customer_id, program_id, promotion_id, fetched_at, checked_at)
        SELECT {ORG}, 'promotions', i, 0, 0, :t, :t FROM generate_series(1, {CUSTOMERS}) i""",
    """INSERT INTO capillary.sync_item_state
        (org_id, pass_name, customer_id, program_id, promotion_id, fetched_at, checked_at)
        SELECT org_id, 'benefits', customer_id, program_id, promotion_id, :t, :t
        FROM capillary.customer_promotions""",
]


@pytest.fixture
def stale(engine: sa.Engine) -> Iterator[sa.Engine]:
    """A warehouse of 2,000 customers synced yesterday, never analysed."""
    with engine.begin() as conn:
        for table in FILLED:
            conn.execute(
                sa.text(f"ALTER TABLE capillary.{table.name} SET (autovacuum_enabled = false)")
            )
        for statement in FILL:
            conn.execute(sa.text(statement), {"t": NOW - timedelta(days=1)})
    yield engine


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _explained(engine: sa.Engine, query: sa.Select[Any]) -> list[dict[str, Any]]:
    """Every node of the plan the pass runs `query` with, executed and counted."""
    with engine.connect() as conn:
        planned.planning(conn)
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        explain = f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}"
        (document,) = conn.exec_driver_sql(explain, compiled.params).one()
    return list(_nodes(document[0]["Plan"]))


def _assert_linear(nodes: list[dict[str, Any]], items: int) -> None:
    """No node compares each row with a whole table: nothing removed beyond the items."""
    for node in nodes:
        assert node["Node Type"] != "Nested Loop" or "Join Filter" not in node, node
        for removed in ("Rows Removed by Join Filter", "Rows Removed by Filter"):
            assert node.get(removed, 0) * node.get("Actual Loops", 1) <= 2 * items, node


def _plan() -> change_signals.Plan:
    return change_signals.plan(change_signals.SignalPolicy(), NOW)


def test_the_benefits_planning_query_stays_linear_on_stale_statistics(
    stale: sa.Engine,
) -> None:
    partitions = PartitionScope.org(ORG, [PROGRAM])
    items = planned.PlannedItems(stale, pairs_to_fetch(ORG, partitions, _plan()), BENEFIT_ORDER)
    pairs = CUSTOMERS * HELD
    assert items.signals.items == pairs
    assert items.signals.fetched[change_signals.Reason.MAX_AGE] > 0  # today's bucket
    _assert_linear(_explained(stale, items.count_query), pairs)
    _assert_linear(_explained(stale, items.fetch_query), pairs)


def test_the_promotions_planning_query_stays_linear_on_stale_statistics(
    stale: sa.Engine,
) -> None:
    partitions = PartitionScope.org(ORG, [PROGRAM])
    query = customers_to_fetch(ORG, partitions, _plan())
    items = planned.PlannedItems(stale, query, PROMOTION_ORDER)
    assert items.signals.items == CUSTOMERS
    _assert_linear(_explained(stale, items.count_query), CUSTOMERS)
    _assert_linear(_explained(stale, items.fetch_query), CUSTOMERS)


def test_tables_a_pass_rewrote_in_large_part_are_analysed(stale: sa.Engine) -> None:
    names = [tables.customer_promotions.name, tables.promotions.name]
    refreshed = statistics.refresh(stale, {names[0]: 1, names[1]: 5})
    assert refreshed == names  # never analysed: both, whatever was written
    assert statistics.refresh(stale, {names[0]: 1, names[1]: 5}) == [names[1]]
    with stale.connect() as conn:
        analysed = conn.scalar(
            sa.text(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                "WHERE schemaname = 'capillary' AND relname = :name"
            ),
            {"name": names[0]},
        )
    assert analysed
