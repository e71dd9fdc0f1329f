"""Counters of what the client did, for Dagster metadata and the sync summary.

One `ClientStats` per client, shared by all its threads. Latencies are kept in a bounded
reservoir so a run of millions of calls keeps constant memory while the percentiles stay
representative.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any, NamedTuple

_RESERVOIR_SIZE = 20_000


def _percentile(ordered: list[float], share: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


class ApiCounts(NamedTuple):
    """The running totals a progress display shows: calls, retries, 429s."""

    calls: int = 0
    retries: int = 0
    throttled: int = 0

    def since(self, start: ApiCounts) -> ApiCounts:
        return ApiCounts(*(now - then for now, then in zip(self, start, strict=True)))


class ClientStats:
    """Thread-safe counters: calls per endpoint, retries, 429s, error and warning codes, latency."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(0)
        self.reset()

    def reset(self) -> None:
        """Start counting afresh, e.g. at the start of a run that reuses a client."""
        with self._lock:
            self._calls: Counter[str] = Counter()
            self._attempts = 0
            self._retries = 0
            self._retry_causes: Counter[str] = Counter()
            self._throttled = 0
            self._token_refreshes = 0
            self._token_requests = 0
            self._errors: Counter[str] = Counter()
            self._warnings: Counter[str] = Counter()
            self._latencies: list[float] = []
            self._latency_count = 0
            self._limiter_wait = 0.0

    def record_call(self, endpoint: str) -> None:
        """One API call as the caller sees it: each page is one, its retries are not, nor
        the token requests that authenticate it (`record_token_request`)."""
        with self._lock:
            self._calls[endpoint] += 1

    def record_token_request(self) -> None:
        """A request for an OAuth token: counted apart, since it fetches no data."""
        with self._lock:
            self._token_requests += 1

    def record_attempt(self, latency_seconds: float) -> None:
        """One HTTP request sent and answered (or failed), with its latency."""
        with self._lock:
            self._attempts += 1
            self._latency_count += 1
            if len(self._latencies) < _RESERVOIR_SIZE:
                self._latencies.append(latency_seconds)
            else:
                slot = self._random.randrange(self._latency_count)
                if slot < _RESERVOIR_SIZE:
                    self._latencies[slot] = latency_seconds

    def record_retry(self, cause: str = "other") -> None:
        with self._lock:
            self._retries += 1
            self._retry_causes[cause] += 1

    def record_throttled(self) -> None:
        with self._lock:
            self._throttled += 1

    def record_token_refresh(self) -> None:
        with self._lock:
            self._token_refreshes += 1

    def record_error(self, code: int | str | None) -> None:
        with self._lock:
            self._errors[str(code if code is not None else "none")] += 1

    def record_warnings(self, codes: list[int | None]) -> None:
        with self._lock:
            for code in codes:
                self._warnings[str(code if code is not None else "none")] += 1

    def record_limiter_wait(self, seconds: float) -> None:
        with self._lock:
            self._limiter_wait += seconds

    @property
    def total_calls(self) -> int:
        with self._lock:
            return sum(self._calls.values())

    def counts(self) -> ApiCounts:
        """Calls, retries and 429s so far, cheaply (a progress display reads it often)."""
        with self._lock:
            return ApiCounts(sum(self._calls.values()), self._retries, self._throttled)

    @property
    def requests(self) -> int:
        with self._lock:
            return self._attempts

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-able values (ints, floats, dicts of ints) ready for Dagster metadata."""
        with self._lock:
            ordered = sorted(self._latencies)
            latency = {
                f"p{int(share * 100)}_ms": (
                    round(value * 1000, 1)
                    if (value := _percentile(ordered, share)) is not None
                    else None
                )
                for share in (0.5, 0.95, 0.99)
            }
            return {
                "calls": sum(self._calls.values()),
                "calls_by_endpoint": dict(sorted(self._calls.items())),
                "requests": self._attempts,
                "retries": self._retries,
                "retries_by_cause": dict(sorted(self._retry_causes.items())),
                "throttled_429": self._throttled,
                "token_refreshes": self._token_refreshes,
                "token_requests": self._token_requests,
                "errors_by_code": dict(sorted(self._errors.items())),
                "warnings_by_code": dict(sorted(self._warnings.items())),
                "latency_ms": latency,
                "limiter_wait_seconds": round(self._limiter_wait, 3),
            }
