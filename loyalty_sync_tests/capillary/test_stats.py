"""Counters: thread-safe totals and a JSON-able snapshot for Dagster metadata."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from loyalty_sync.capillary.stats import ClientStats


def test_snapshot_counts_and_percentiles() -> None:
    stats = ClientStats()
    for i in range(1, 101):
        stats.record_call("programs")
        stats.record_attempt(i / 1000)
    stats.record_retry()
    stats.record_throttled()
    stats.record_error(429)
    stats.record_error("timeout")
    stats.record_warnings([8116, 8116])
    snapshot = stats.snapshot()
    assert snapshot["calls"] == 100 and snapshot["calls_by_endpoint"] == {"programs": 100}
    assert snapshot["requests"] == 100 and snapshot["retries"] == 1
    assert snapshot["throttled_429"] == 1
    assert snapshot["errors_by_code"] == {"429": 1, "timeout": 1}
    assert snapshot["warnings_by_code"] == {"8116": 2}
    assert snapshot["latency_ms"] == {"p50_ms": 51.0, "p95_ms": 95.0, "p99_ms": 99.0}
    json.dumps(snapshot)
    stats.reset()
    assert stats.snapshot()["calls"] == 0
    assert stats.snapshot()["latency_ms"]["p50_ms"] is None


def test_counts_from_many_threads() -> None:
    stats = ClientStats()

    def work(_: int) -> None:
        for _ in range(1000):
            stats.record_call("x")
            stats.record_attempt(0.001)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert stats.total_calls == 8000 and stats.requests == 8000
