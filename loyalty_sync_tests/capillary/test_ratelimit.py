"""GCRA limiters: slot spacing in memory, and one schedule shared through Postgres."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from loyalty_sync.capillary.ratelimit import (
    CATCH_UP_SECONDS,
    LATE_SLOT_SECONDS,
    MAX_LEASE_SLOTS,
    SAFETY_FACTOR,
    MemoryRateLimiter,
    RateLimiterError,
    api_key_hash,
    slot_interval,
)
from loyalty_sync.warehouse.rate_limits import PostgresRateLimiter
from loyalty_sync_tests.conftest import new_database


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_slot_interval_keeps_a_margin() -> None:
    assert slot_interval(600) == pytest.approx(60 / (600 * SAFETY_FACTOR))
    with pytest.raises(ValueError):
        slot_interval(0)


def test_memory_limiter_spaces_slots_without_burst() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(60, clock=clock, sleep=clock.sleep)
    interval = slot_interval(60)
    assert interval > CATCH_UP_SECONDS  # at 60/min the allowance is less than one slot
    delays = [limiter.reserve() for _ in range(5)]
    assert delays == pytest.approx([0] + [n * interval - CATCH_UP_SECONDS for n in range(1, 5)])
    clock.now += 100  # idle time does not bank a burst
    assert limiter.reserve() == 0
    assert limiter.reserve() == pytest.approx(interval - CATCH_UP_SECONDS)


def test_memory_limiter_catches_up_on_a_short_stall_only() -> None:
    """Slots missed while the caller was busy are taken late, CATCH_UP_SECONDS at most."""
    clock = FakeClock()
    limiter = MemoryRateLimiter(6_000, clock=clock, sleep=clock.sleep)
    interval = slot_interval(6_000)
    for _ in range(100):
        limiter.acquire()
    clock.now += 0.3  # a stall shorter than the allowance: its slots are all still there
    caught_up = 0
    while limiter.reserve() == 0:
        caught_up += 1
    assert caught_up == pytest.approx(0.3 / interval, abs=2)
    clock.now += 30  # a long stall: only the allowance's worth goes at once
    burst = 0
    while limiter.reserve() == 0:
        burst += 1
    assert burst == pytest.approx(CATCH_UP_SECONDS / interval, abs=1)


def test_memory_limiter_holds_the_limit_in_any_minute() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(100, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(500):
        limiter.acquire()
        sent.append(clock.now)
    busiest = max(sum(1 for t in sent if start <= t < start + 60) for start in sent)
    assert busiest <= 100
    assert busiest >= 97


def test_memory_limiter_holds_the_limit_when_the_caller_stalls() -> None:
    """Stalls followed by catch-up bursts still leave the busiest minute under the limit."""
    clock = FakeClock()
    limit = 6_000
    limiter = MemoryRateLimiter(limit, clock=clock, sleep=clock.sleep)
    sent: list[float] = []
    for n in range(30_000):
        if n % 400 == 399:
            clock.now += 0.45  # a chunk being written
        limiter.acquire()
        sent.append(clock.now)
    end = 0
    busiest = 0
    for start, first in enumerate(sent):
        while end < len(sent) and sent[end] < first + 60:
            end += 1
        busiest = max(busiest, end - start)
    assert busiest <= 0.99 * limit
    assert busiest >= 0.97 * limit


def test_shared_memory_limiters_are_one_per_key() -> None:
    key = api_key_hash("http://example.test", "user")
    assert MemoryRateLimiter.shared(key, 100) is MemoryRateLimiter.shared(key, 100)
    assert MemoryRateLimiter.shared(key, 100) is not MemoryRateLimiter.shared("other", 100)


def test_key_hash_names_host_and_principal_only() -> None:
    first = api_key_hash("https://eu.api.capillarytech.com/", "till.user")
    assert first == api_key_hash("https://EU.api.capillarytech.com", "till.user")
    assert first != api_key_hash("https://eu.api.capillarytech.com", "other.user")
    assert len(first) == 64 and "till" not in first


def test_postgres_limiter_spaces_slots_across_engines(database_url: str) -> None:
    """Two engines stand in for two processes: together they keep one schedule."""
    key = api_key_hash("http://spacing.test", f"user-{time.time_ns()}")
    limit = 1200
    engines = [sa.create_engine(database_url) for _ in range(2)]
    limiters = [PostgresRateLimiter(limit, key, engine=e) for e in engines]
    sent: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 3.0

    def worker(limiter: PostgresRateLimiter) -> None:
        while time.monotonic() < deadline:
            limiter.acquire()
            with lock:
                sent.append(time.monotonic())

    threads = [threading.Thread(target=worker, args=(lim,)) for lim in limiters for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for limiter in limiters:
        limiter.close()
    for engine in engines:
        engine.dispose()
    sent.sort()
    interval = slot_interval(limit)
    span = sent[-1] - sent[0]
    # Never more than one slot per interval (plus the catch-up allowance, a leased slot's
    # lateness and scheduling noise), and close to the rate.
    assert len(sent) <= (span + CATCH_UP_SECONDS + LATE_SLOT_SECONDS) / interval + 2
    assert len(sent) >= 0.9 * 3.0 * limit / 60


def test_postgres_limiter_explains_a_missing_table(server_admin_url: str) -> None:
    engine = sa.create_engine(new_database(server_admin_url, template=None))
    try:
        limiter = PostgresRateLimiter(100, "k", engine=engine)
        with pytest.raises(RateLimiterError, match="migrations"):
            limiter.acquire()
        limiter.close()
    finally:
        engine.dispose()


def test_postgres_limiter_reconnects_after_losing_its_connection(database_url: str) -> None:
    """A server restart or idle timeout drops the kept connection; the next request goes on."""
    engine = sa.create_engine(database_url)
    limiter = PostgresRateLimiter(600, f"reconnect-{time.time_ns()}", engine=engine)
    assert limiter.lease_slots == 1  # every acquire goes to the database
    try:
        limiter.acquire()
        with engine.connect() as conn:
            killed = conn.scalar(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND query LIKE '%api_rate_limits%'"
                )
            )
        assert killed == 1
        limiter.acquire()
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT count(*) FROM capillary.api_rate_limits")).scalar()
        assert row is not None and row >= 1
    finally:
        limiter.close()
        engine.dispose()


def test_postgres_limiter_leases_slots_a_few_at_a_time(database_url: str) -> None:
    """At high limits one statement leases several slots; a stalled process drops its lease."""
    engine = sa.create_engine(database_url)
    key = api_key_hash("http://lease.test", f"user-{time.time_ns()}")
    limiter = PostgresRateLimiter(60_000, key, engine=engine)
    interval = slot_interval(60_000)

    def tat() -> float:
        with engine.connect() as conn:
            return float(
                conn.scalar(
                    sa.text(
                        "SELECT extract(epoch FROM tat) FROM capillary.api_rate_limits "
                        "WHERE api_key_hash = :key"
                    ),
                    {"key": key},
                )
            )

    try:
        assert limiter.lease_slots == MAX_LEASE_SLOTS
        # Another process holds the next 5 s, so every lease starts where the last ended
        # however slowly this test runs.
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO capillary.api_rate_limits (api_key_hash, tat) "
                    "VALUES (:key, clock_timestamp() + interval '5 seconds')"
                ),
                {"key": key},
            )
        held = tat()
        assert limiter.reserve() > 4
        first = tat()
        assert first == pytest.approx(held + MAX_LEASE_SLOTS * interval, abs=1e-4)
        for _ in range(MAX_LEASE_SLOTS - 1):
            limiter.reserve()
        assert tat() == first  # the whole lease served without a statement
        limiter.reserve()
        assert tat() == pytest.approx(first + MAX_LEASE_SLOTS * interval, abs=1e-4)

        # A lease the process stalled past is dropped, not used late.
        limiter.close()
        with engine.begin() as conn:
            conn.execute(
                sa.text("DELETE FROM capillary.api_rate_limits WHERE api_key_hash = :key"),
                {"key": key},
            )
        limiter = PostgresRateLimiter(60_000, key, engine=engine)
        limiter.reserve()
        leased = tat()
        time.sleep(MAX_LEASE_SLOTS * interval + LATE_SLOT_SECONDS * 2)
        limiter.reserve()
        assert tat() > leased
    finally:
        limiter.close()
        engine.dispose()


def test_postgres_limiter_names_an_unreachable_database() -> None:
    engine = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    limiter = PostgresRateLimiter(100, "k", engine=engine)
    with pytest.raises(RateLimiterError, match="cannot reach the warehouse database"):
        limiter.acquire()
    engine.dispose()
