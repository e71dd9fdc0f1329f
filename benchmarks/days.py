"""Item 9: change-driven daily syncs over simulated days, against full syncs of the same state.

One simulator (item 1's data: one org, one program, 20 promotions; no latency, no limit:
calls and rows do not depend on the pace). Day 0: a full sync into warehouse A (max age
7), copied as warehouse B (max age 30). Then five simulated days (`/_admin/advance`) at 5 %
churn, with one new promotion on day 3; after each advance, A and B sync. At the end:

- calls per customer per day, each max age, against 9.27 (a full sync) and the naive 23;
- a `--full` sync of the final state into warehouse C, and the rows A and B hold that
  differ from C's, by table, beside what the simulator changed by kind;
- the drift each day's sample reported (sampled items found changed), against the items
  that really differ at the end;
- A's second sync on day 5, nothing changed: calls per customer and rows written;
- the projection: hours a day for 1,000,000 members at 6,000 requests a minute.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.harness import (
    DATA_TABLES,
    RUN_COLUMNS,
    UNLIMITED_PER_MINUTE,
    BenchDatabases,
    ProcessMeasure,
    load_roster,
    run_sync,
    settled_tuples_written,
    warehouse_content,
)
from capillary_simulator import RunningSimulator, SimulatorConfig, start_simulator
from loyalty_sync.warehouse import tables

DAYS = 5
CHURN = 0.05
NEW_PROMOTION_DAY = 3
MAX_AGES = (7, 30)
MEMBERS = 1_000_000
LIMIT_PER_MINUTE = 6_000


@dataclass
class Warehouse:
    name: str
    max_age: int
    url: str
    calls: list[int] = field(default_factory=list)  # per simulated day
    # per day and pass: the sync's signals (sampled, sampled_changed, skipped, ...)
    signals: list[dict[str, dict[str, Any]]] = field(default_factory=list)
    differences: dict[str, int] = field(default_factory=dict)
    # per endpoint: items (customers, pairs) whose rows differ from the full sync's
    differing_items: dict[str, int] = field(default_factory=dict)

    def sampled(self, pass_name: str) -> tuple[int, int]:
        """(sampled, found changed) over the days."""
        days = [day.get(pass_name, {}) for day in self.signals]
        return sum(d.get("sampled", 0) for d in days), sum(
            d.get("sampled_changed", 0) for d in days
        )

    def estimate(self, pass_name: str) -> float:
        """Skipped items likely changed on the last day, by the days' pooled sample share."""
        sampled, changed = self.sampled(pass_name)
        skipped = self.signals[-1].get(pass_name, {}).get("skipped", 0) if self.signals else 0
        return changed / sampled * skipped if sampled else 0.0


@dataclass
class DaysResult:
    customers: int
    full_calls: int
    warehouses: list[Warehouse]
    changes: Counter[str]
    second_calls: int
    second_rows: int
    seconds: float = 0.0


def _copy(databases: BenchDatabases, source: str, name: str) -> str:
    """A copy of database `source` as `name` (CREATE DATABASE ... TEMPLATE)."""
    admin = sa.create_engine(databases.server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            src = sa.engine.make_url(source).database
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{src}"'))
    finally:
        admin.dispose()
    url = sa.engine.make_url(source).set(database=name)
    return url.render_as_string(hide_password=False)


def _signals(url: str) -> dict[str, dict[str, Any]]:
    """The latest sync's signals per pass (one org, one program: one sync_runs row)."""
    s = tables.sync_runs
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            latest = conn.execute(
                sa.select(s.c.signals).order_by(s.c.started_at.desc()).limit(1)
            ).scalar()
    finally:
        engine.dispose()
    return dict(latest or {})


def _differing_items(expected: dict[str, Counter[Any]], actual: dict[str, Counter[Any]]):
    """Customers whose promotionData rows, and pairs whose actionSummary rows, differ."""

    def keys(table: sa.Table, columns: tuple[str, ...]) -> set[tuple[str, ...]]:
        names = [c.name for c in table.columns if c.name not in RUN_COLUMNS]
        at = [names.index(c) for c in columns]
        rows = (expected[table.name] - actual[table.name]) + (
            actual[table.name] - expected[table.name]
        )
        return {tuple(row[i] for i in at) for row in rows}

    pair = ("customer_id", "promotion_id")
    benefit_tables = [t for t in tables.CONTRACT_TABLES if t.name.startswith("benefit_")]
    return {
        "promotions": len(keys(tables.customer_promotions, ("customer_id",))),
        "benefits": len(set().union(*(keys(t, pair) for t in benefit_tables))),
    }


def _differences(expected: dict[str, Counter[Any]], actual: dict[str, Counter[Any]]):
    """Rows per table that one warehouse holds and the other does not (either way).

    tier_history is left out: it is history, and a warehouse synced every day has seen
    tier moves that one synced once has not.
    """
    return {
        name: (expected[name] - actual.get(name, Counter())).total()
        + (actual.get(name, Counter()) - expected[name]).total()
        for name in expected
        if name != tables.tier_history.name
    }


def _sync(
    work: Path, label: str, sim: RunningSimulator, house: Warehouse, *args: str
) -> ProcessMeasure:
    env = {"LOYALTY_SYNC_MAX_AGE_DAYS": str(house.max_age)}
    return run_sync(
        work,
        label,
        sim,
        house.url,
        UNLIMITED_PER_MINUTE,
        instance=house.name,
        env=env,
        args=args,
    )


def _day_zero(
    work: Path, databases: BenchDatabases, simulator: RunningSimulator, customers: int
) -> tuple[list[Warehouse], ProcessMeasure]:
    """A full sync into the first warehouse, then a copy of it for each other max age."""
    first_url = databases.fresh("bench_days_a")
    load_roster(first_url, simulator, work / "days-roster.csv")
    houses = [Warehouse("days_a", MAX_AGES[0], first_url)]
    print(f"[9] day 0: full sync of {customers:,} customers", flush=True)
    day0 = _sync(work, "days-0-a", simulator, houses[0])
    for max_age in MAX_AGES[1:]:
        name = f"days_age{max_age}"
        houses.append(Warehouse(name, max_age, _copy(databases, first_url, f"bench_{name}")))
    return houses, day0


def _days(work: Path, simulator: RunningSimulator, houses: list[Warehouse]) -> Counter[str]:
    """Each simulated day, then a sync of each warehouse; what the simulator changed."""
    changes: Counter[str] = Counter()
    for day in range(1, DAYS + 1):
        report = simulator.advance(
            1, churn=CHURN, new_promotions=1 if day == NEW_PROMOTION_DAY else 0
        )
        for kind, figures in report["changes"].items():
            changes[kind] += int(figures["count"])
        for house in houses:
            measure = _sync(work, f"days-{day}-{house.name}", simulator, house)
            house.calls.append(measure.calls)
            house.signals.append(_signals(house.url))
        print(
            f"  day {day}: "
            + ", ".join(f"max age {h.max_age}: {h.calls[-1]:,} calls" for h in houses),
            flush=True,
        )
    return changes


def _second_sync(
    work: Path, simulator: RunningSimulator, house: Warehouse
) -> tuple[ProcessMeasure, int]:
    """A second sync the same day, and the data rows it wrote."""
    before = settled_tuples_written(house.url, tables.SCHEMA)
    second = _sync(work, "days-second", simulator, house)
    after = settled_tuples_written(house.url, tables.SCHEMA)
    return second, sum(after.get(t, 0) - before.get(t, 0) for t in DATA_TABLES)


def run(work: Path, databases: BenchDatabases, config: SimulatorConfig) -> DaysResult:
    customers = config.customers_per_org * config.orgs
    with start_simulator(config) as simulator:
        houses, day0 = _day_zero(work, databases, simulator, customers)
        changes = _days(work, simulator, houses)
        second, written = _second_sync(work, simulator, houses[0])
        full = Warehouse("days_full", MAX_AGES[0], databases.fresh("bench_days_full"))
        load_roster(full.url, simulator, work / "days-full-roster.csv")
        _sync(work, "days-full", simulator, full, "--full")
    expected = warehouse_content(full.url)
    for house in houses:
        content = warehouse_content(house.url)
        house.differences = _differences(expected, content)
        house.differing_items = _differing_items(expected, content)
    return DaysResult(customers, day0.calls, houses, changes, second.calls, written)
