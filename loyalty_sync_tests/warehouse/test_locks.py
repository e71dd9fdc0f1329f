"""Partition locks and the idempotent tier log, on a real PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from loyalty_sync.warehouse import locks, tables
from loyalty_sync.warehouse.tier_log import TierHistoryMerge


def test_second_holder_waits_and_names_the_first(engine: sa.Engine) -> None:
    said: list[str] = []
    order: list[str] = []
    with locks.hold(engine, ["1-2", "1-3"], holder="run A", say=said.append):
        # A nested hold of keys this process holds takes nothing and does not wait.
        with locks.hold(engine, ["1-2"], holder="run A again", say=said.append):
            pass
        assert not said

        def other() -> None:
            locks._held.clear()  # stand in for another process: forget our own claim
            with locks.hold(engine, ["1-3"], holder="run B", say=said.append):
                order.append("B")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(1.2)
        order.append("A done")
    thread.join(timeout=10)
    assert order == ["A done", "B"]
    assert said[0] == "waiting for run A which holds partition 1-3"


def test_a_lock_dies_with_its_connection(engine: sa.Engine) -> None:
    key = locks.lock_key("7-8")
    holder = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    conn = holder.connect()
    assert conn.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
    with engine.connect() as probe:
        assert locks.holder_of(probe, "7-8") is not None
        conn.invalidate()  # the connection is cut, as when its process is killed
        holder.dispose()
        deadline = time.monotonic() + 10
        while locks.holder_of(probe, "7-8") is not None:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def _tier(customer: int, slab: int, at: datetime) -> dict[str, object]:
    return {
        "org_id": 1,
        "program_id": 2,
        "customer_id": customer,
        "valid_from": at,
        "slab_sno": slab,
        "current_slab": f"tier {slab}",
        "slab_expiry_date": None,
        "previous_slab_sno": None,
        "previous_slab": None,
        "previous_slab_expiry_date": None,
    }


def test_tier_log_records_a_tier_only_when_it_changes(engine: sa.Engine) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batches = [
        [_tier(10, 1, start), _tier(11, 1, start)],
        # A second sync that read the tiers before the first committed: both "first seen".
        [_tier(10, 1, start + timedelta(minutes=1)), _tier(11, 2, start + timedelta(minutes=1))],
        [_tier(10, 2, start + timedelta(days=1))],
    ]
    inserted = []
    for number, batch in enumerate(batches):
        with engine.begin() as conn:
            merge = TierHistoryMerge(conn, tables.tier_history, run_id=f"run-{number}")
            merge.add(batch)
            inserted.append(merge.finish().inserted)
    assert inserted == [2, 1, 1]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(tables.tier_history.c.customer_id, tables.tier_history.c.slab_sno).order_by(
                tables.tier_history.c.customer_id, tables.tier_history.c.valid_from
            )
        ).all()
    assert [tuple(r) for r in rows] == [(10, 1), (10, 2), (11, 1), (11, 2)]
