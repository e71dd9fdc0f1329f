"""GCRA limiters: slot spacing in memory, and one schedule shared through Postgres."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from loyalty_sync.capillary.ratelimit import (
    SAFETY_FACTOR,
    MemoryRateLimiter,
    PostgresRateLimiter,
    RateLimiterError,
    api_key_hash,
    slot_interval,
)
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
    delays = [limiter.reserve() for _ in range(5)]
    assert delays == pytest.approx([0, interval, 2 * interval, 3 * interval, 4 * interval])
    clock.now += 100  # idle time does not bank a burst
    assert limiter.reserve() == 0
    assert limiter.reserve() == pytest.approx(interval)


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
    for engine in engines:
        engine.dispose()
    sent.sort()
    interval = slot_interval(limit)
    span = sent[-1] - sent[0]
    # Never more than one slot per interval (plus scheduling noise), and close to the rate.
    assert len(sent) <= span / interval + 2
    assert len(sent) >= 0.9 * 3.0 * limit / 60


def test_postgres_limiter_explains_a_missing_table(server_admin_url: str) -> None:
    engine = sa.create_engine(new_database(server_admin_url, template=None))
    try:
        limiter = PostgresRateLimiter(100, "k", engine=engine)
        with pytest.raises(RateLimiterError, match="migrations"):
            limiter.acquire()
    finally:
        engine.dispose()
