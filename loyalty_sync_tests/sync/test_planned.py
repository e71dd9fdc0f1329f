"""What a change-driven pass fetches, in which order, from where a checkpoint left it.

`PlannedItems` reads any query whose last two columns are a signature and a reason; these
tests give it a literal table of items, so the counting, the streaming after a cursor and
the drift of sampled items are checked without a pass, a client or a simulator.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from loyalty_sync.sync.change_signals import Plan, Reason, SignalPolicy, Signals, signature
from loyalty_sync.sync.planned import PlannedItems, after
from loyalty_sync.warehouse import tables

ORG = 100
ROWS = {
    # (customer, program, promotion): (signature stored, reason)
    (1, 7, 70): (None, Reason.NEW),
    (1, 7, 71): ("old", Reason.UNCHANGED),
    (2, 7, 70): (signature([{"points": 5}]), Reason.SAMPLE),
    (2, 8, 80): ("old", Reason.SETTINGS_CHANGED),
    (3, 7, 70): ("old", Reason.FETCHED_TODAY),
    (3, 8, 80): (signature([{"points": 1}]), Reason.SAMPLE),
    (4, 7, 70): ("old", Reason.MAX_AGE),
}
ORDER = ["customer_id", "program_id", "promotion_id"]


def _query() -> sa.Select:
    items = sa.values(
        sa.column("customer_id", sa.BigInteger),
        sa.column("program_id", sa.BigInteger),
        sa.column("promotion_id", sa.BigInteger),
        sa.column("signature", sa.Text),
        sa.column("reason", sa.Text),
        name="items",
    ).data([(*item, sig, reason.value) for item, (sig, reason) in ROWS.items()])
    return sa.select(items)


@dataclass
class FakeOutcome:
    """The one thing `note` asks of a pass's outcome: the org's signals."""

    by_org: dict[int, Signals] = field(default_factory=dict)

    def org_signals(self, org_id: int) -> Signals:
        return self.by_org.setdefault(org_id, Signals())


@pytest.fixture
def planned(engine: sa.Engine) -> PlannedItems:
    return PlannedItems(engine, _query(), ORDER)


def test_items_are_counted_by_reason_once_skips_apart(planned: PlannedItems) -> None:
    assert planned.total == 5
    assert planned.signals.fetched == Counter(
        {"new": 1, "sample": 2, "settings_changed": 1, "max_age": 1}
    )
    assert planned.signals.skipped_by_reason == Counter({"unchanged": 1, "fetched_today": 1})
    assert planned.signals.items == len(ROWS)


def test_only_items_to_fetch_stream_in_order_after_a_cursor(
    engine: sa.Engine, planned: PlannedItems
) -> None:
    # A reader streams once (its connection keeps the streaming options): one each.
    with engine.connect() as conn:
        everything = list(planned.items_after(conn, None))
    with engine.connect() as conn:
        resumed = list(planned.items_after(conn, [2, 7, 70]))
    assert everything == [(1, 7, 70), (2, 7, 70), (2, 8, 80), (3, 8, 80), (4, 7, 70)]
    assert resumed == [(2, 8, 80), (3, 8, 80), (4, 7, 70)]


def test_after_orders_and_cuts_any_query() -> None:
    numbers = sa.values(sa.column("n", sa.Integer), name="numbers").data([(3,), (1,), (2,)])
    query = sa.select(numbers.c.n)
    compiled = str(after(query, [numbers.c.n], [1]).compile())
    assert "ORDER BY numbers.n" in compiled
    assert ">" in compiled
    assert "WHERE" not in str(after(query, [numbers.c.n], None).compile())


def test_items_fetched_because_settings_changed_are_the_ones_reshaped(
    engine: sa.Engine, planned: PlannedItems
) -> None:
    with engine.connect() as conn:
        streamed = list(planned.items_after(conn, None))
    assert planned.reshaped(streamed) == [(2, 8, 80)]
    assert planned.reshaped([(9, 9, 9)]) == []


def test_a_sampled_item_whose_rows_differ_is_counted_as_drift_and_recorded(
    engine: sa.Engine, planned: PlannedItems
) -> None:
    with engine.connect() as conn:
        list(planned.items_after(conn, None))
    outcome = FakeOutcome()
    plan = Plan(SignalPolicy(), datetime(2024, 3, 10, tzinfo=UTC), settings="v3")
    fetched = {
        (2, 7, 70): [{"points": 5}],  # sampled, same rows: no drift
        (3, 8, 80): [{"points": 2}],  # sampled, changed: what the signals missed
        (1, 7, 70): [{"points": 9}],  # new: no sample
    }
    with engine.begin() as conn:
        planned.note(conn, ORG, "benefits", plan, fetched, outcome)  # type: ignore[arg-type]
        state = {
            (r.customer_id, r.program_id, r.promotion_id): (r.signature, r.settings)
            for r in conn.execute(sa.select(tables.sync_item_state))
        }
    signals = outcome.by_org[ORG]
    assert (signals.sampled, signals.sampled_changed) == (2, 1)
    assert state == {item: (signature(rows), "v3") for item, rows in fetched.items()}


def test_a_pass_of_its_own_item_shape_notes_through_its_key(
    engine: sa.Engine, planned: PlannedItems
) -> None:
    """The promotions pass streams customers but notes (customer, 0, 0) items."""
    with engine.connect() as conn:
        list(planned.items_after(conn, None))
    outcome = FakeOutcome()
    plan = Plan(SignalPolicy(), datetime(2024, 3, 10, tzinfo=UTC))
    moved = {(3, 0, 0): [{"points": 2}]}
    with engine.begin() as conn:
        planned.note(conn, ORG, "benefits", plan, moved, outcome, key=lambda i: (3, 8, 80))  # type: ignore[arg-type]
    assert outcome.by_org[ORG].sampled_changed == 1
