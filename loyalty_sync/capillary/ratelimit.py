"""Client-side rate limiting that holds one per-minute limit across every process at once.

The Postgres backend that holds the schedule is `warehouse/rate_limits.py`.

Capillary counts requests per API key, not per process: a backfill of several runs, a sensor
and the CLI share one budget. The limiter is GCRA in its "virtual scheduling" form: a single
theoretical arrival time (TAT) per key; each request takes the slot at max(TAT, now) and
pushes TAT one interval on. With the TAT in one Postgres row, updated by one atomic
statement on the database clock, all processes draw from the same schedule and no host's
clock matters.

Slots are spaced `60 / (limit * SAFETY_FACTOR)` seconds apart. Idle time banks no burst,
with one exception: a slot that went by while the process was busy (writing a chunk,
between two passes, a GC pause) may still be taken up to `CATCH_UP_SECONDS` late, so a
short stall does not lose its share of the budget for good.

A process leases its slots a few at a time (`LEASE_SECONDS` of them, at most
`MAX_LEASE_SLOTS`) with one statement, and hands them to its threads in order. At high
limits that saves a database round trip per request, and it keeps the one row per key
from piling up dead versions that nothing can prune while a pass holds its write
transaction open: at one update per request, a 200,000-call sync made every later update
walk a chain of hundreds of thousands of them. A leased slot the process is more than
`LATE_SLOT_SECONDS` too late for is dropped, not used. The busiest 60 seconds then hold
at most `(60 + CATCH_UP_SECONDS + LATE_SLOT_SECONDS) / interval + 1` requests, 99 % of
the limit plus one, and the rest absorbs jitter between a slot and the request reaching
Capillary (sleep overshoot, network).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Protocol

SAFETY_FACTOR = 0.98
CATCH_UP_SECONDS = 0.5
LEASE_SECONDS = 0.1
MAX_LEASE_SLOTS = 64
LATE_SLOT_SECONDS = 0.1


class RateLimiterError(RuntimeError):
    """The shared limiter cannot reserve slots (database down, table missing)."""


class RateLimiter(Protocol):
    """Blocks until the caller may send one request; returns the seconds it waited."""

    limit_per_minute: int

    def acquire(self) -> float: ...

    def throttled(self) -> None: ...

    def answered(self) -> None: ...

    def close(self) -> None: ...


def slot_interval(limit_per_minute: int) -> float:
    """Seconds between two slots for `limit_per_minute`, including the safety margin."""
    if limit_per_minute <= 0:
        raise ValueError("rate limit must be a positive number of requests per minute")
    return 60.0 / (limit_per_minute * SAFETY_FACTOR)


def api_key_hash(base_url: str, principal: str) -> str:
    """The limiter's key: one budget per API host and user name or OAuth key (never a secret)."""
    material = f"{base_url.rstrip('/').lower()}\n{principal}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


# Capillary's real limit may be below the configured one: each burst of 429s slows the
# limiter to this share of its pace (at most once per SLOW_DOWN_SECONDS, never below
# MIN_PACE), and every RECOVER_SECONDS of clean answers takes back RECOVER_STEP of it.
SLOW_DOWN = 0.8
SLOW_DOWN_SECONDS = 5.0
MIN_PACE = 0.25
RECOVER_SECONDS = 10.0
RECOVER_STEP = 0.05


class SleepsUntilItsSlot:
    """`acquire` for both limiters: reserve a slot, then sleep until it may be used.

    Also the pace: the share of the configured limit the limiter spaces its slots for,
    lowered by 429s and raised back once answers are clean.
    """

    _sleep: Callable[[float], None]
    _interval: float
    limit_per_minute: int
    pace: float = 1.0
    _paced_at: float = 0.0

    def reserve(self) -> float:
        raise NotImplementedError

    def _set_pace(self, pace: float) -> None:
        self.pace = pace
        self._paced_at = time.monotonic()
        self._interval = slot_interval(self.limit_per_minute) / pace

    def throttled(self) -> None:
        """Capillary answered 429 although the limiter kept to its pace: slow down."""
        now = time.monotonic()
        if self.pace <= MIN_PACE:
            self._paced_at = now  # no slower, but the clean spell starts again
        elif now - self._paced_at >= SLOW_DOWN_SECONDS:
            self._set_pace(max(MIN_PACE, self.pace * SLOW_DOWN))

    def answered(self) -> None:
        """A clean answer: after a while without 429s, creep back towards the full limit."""
        if self.pace < 1.0 and time.monotonic() - self._paced_at >= RECOVER_SECONDS:
            self._set_pace(min(1.0, self.pace + RECOVER_STEP))

    def acquire(self) -> float:
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
        return delay


class MemoryRateLimiter(SleepsUntilItsSlot):
    """GCRA in process memory: for unit tests, and when runs never overlap.

    Instances from `shared()` are one per key per process, so several clients of one
    process still share a budget.
    """

    _registry: dict[str, MemoryRateLimiter] = {}
    _registry_lock = threading.Lock()

    def __init__(
        self,
        limit_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit_per_minute = limit_per_minute
        self._interval = slot_interval(limit_per_minute)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat: float | None = None

    @classmethod
    def shared(cls, key_hash: str, limit_per_minute: int) -> MemoryRateLimiter:
        with cls._registry_lock:
            limiter = cls._registry.get(key_hash)
            if limiter is None or limiter.limit_per_minute != limit_per_minute:
                limiter = cls(limit_per_minute)
                cls._registry[key_hash] = limiter
            return limiter

    def reserve(self) -> float:
        """Take the next slot; return how long until it may be used (0: now)."""
        with self._lock:
            now = self._clock()
            slot = now if self._tat is None else max(self._tat, now)
            self._tat = slot + self._interval
            return max(0.0, slot - CATCH_UP_SECONDS - now)

    def close(self) -> None:
        """Nothing to release: the schedule lives on in the process's registry."""
