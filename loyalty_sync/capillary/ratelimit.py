"""Client-side rate limiting that holds one per-minute limit across every process at once.

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

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

SAFETY_FACTOR = 0.98
CATCH_UP_SECONDS = 0.5
LEASE_SECONDS = 0.1
MAX_LEASE_SLOTS = 64
LATE_SLOT_SECONDS = 0.1
RATE_LIMIT_TABLE = "capillary.api_rate_limits"


class RateLimiterError(RuntimeError):
    """The shared limiter cannot reserve slots (database down, table missing)."""


class RateLimiter(Protocol):
    """Blocks until the caller may send one request; returns the seconds it waited."""

    limit_per_minute: int

    def acquire(self) -> float: ...

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


class _SleepsUntilItsSlot:
    """`acquire` for both limiters: reserve a slot, then sleep until it may be used."""

    _sleep: Callable[[float], None]

    def reserve(self) -> float:
        raise NotImplementedError

    def acquire(self) -> float:
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
        return delay


class MemoryRateLimiter(_SleepsUntilItsSlot):
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


# One statement leases `slots` slots: the row's TAT moves on by their span from
# max(TAT, now), and the answer is how far in the future the first of them lies.
# Plain psycopg placeholders: it runs on a DBAPI connection.
_LEASE_SLOTS = f"""
    INSERT INTO {RATE_LIMIT_TABLE} AS r (api_key_hash, tat)
    VALUES (%(key)s, clock_timestamp() + make_interval(secs => %(span)s))
    ON CONFLICT (api_key_hash) DO UPDATE
        SET tat = greatest(r.tat, clock_timestamp()) + make_interval(secs => %(span)s)
    RETURNING extract(epoch FROM r.tat - clock_timestamp())::float8 - %(span)s AS first_in
"""

_CREATE_TABLE = (
    "CREATE SCHEMA IF NOT EXISTS capillary",
    f"""CREATE TABLE IF NOT EXISTS {RATE_LIMIT_TABLE} (
        api_key_hash text PRIMARY KEY,
        tat timestamptz NOT NULL
    )""",
)


def ensure_rate_limit_table(engine: Engine) -> None:
    """Create the limiter's table where the warehouse migrations have not run (benchmarks)."""
    with engine.begin() as conn:
        for statement in _CREATE_TABLE:
            conn.execute(sa.text(statement))


class PostgresRateLimiter(_SleepsUntilItsSlot):
    """GCRA whose TAT lives in `capillary.api_rate_limits`, shared by every process.

    Every request costs one statement, so it runs on one autocommit connection the limiter
    keeps for itself (detached from the engine's pool), with the threads of a process
    taking turns on it. A pooled connection per request cost more than the statement: a
    checkout, a pre-ping and a reset, and with more request threads than pooled
    connections, a new server backend each time. The turns cost nothing extra, since
    every reservation of a key queues on the key's row lock anyway.

    The engine defaults to the warehouse's (`get_engine()`), resolved on first use so that
    building a resource does not start a database.
    """

    def __init__(
        self,
        limit_per_minute: int,
        key_hash: str,
        engine: Engine | None = None,
        database_url: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit_per_minute = limit_per_minute
        self._interval = slot_interval(limit_per_minute)
        self.lease_slots = max(1, min(MAX_LEASE_SLOTS, int(LEASE_SECONDS / self._interval)))
        self._params = {"key": key_hash, "span": self.lease_slots * self._interval}
        self._next_slot = 0.0  # time.monotonic() of the next leased slot
        self._slots_left = 0
        self._engine = engine
        self._database_url = database_url
        self._sleep = sleep
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self._engine is None:
            from loyalty_sync.warehouse.database import get_engine

            self._engine = get_engine(self._database_url)
        pooled = self._engine.raw_connection()
        connection = pooled.driver_connection
        pooled.detach()  # ours until close(); the pool makes another in its place
        assert isinstance(connection, psycopg.Connection)
        connection.rollback()  # out of the transaction a pre-ping may have begun
        connection.autocommit = True
        return connection

    def _lease(self) -> float:
        """Lease the next `lease_slots` slots; the seconds until the first of them."""
        if self._connection is None or self._connection.closed:
            self._connection = self._connect()
        row = self._connection.execute(_LEASE_SLOTS, self._params).fetchone()
        assert row is not None
        return float(row[0])

    def _lease_or_explain(self) -> float:
        try:
            try:
                return self._lease()
            except psycopg.OperationalError:
                # A connection the server dropped (restart, idle timeout): one new try.
                self._close_connection()
                return self._lease()
        except psycopg.errors.UndefinedTable:
            raise RateLimiterError(
                f"table {RATE_LIMIT_TABLE} is missing: apply the warehouse migrations "
                "(or set rate_limit_backend='memory' when no two runs overlap)"
            ) from None
        except (psycopg.OperationalError, sa.exc.OperationalError) as exc:
            self._close_connection()
            cause = getattr(exc, "orig", None) or exc
            text = str(cause).strip()
            reason = text.splitlines()[0] if text else ""
            raise RateLimiterError(
                "cannot reach the warehouse database that holds the shared rate limit: "
                f"{type(cause).__name__} {reason}".rstrip()
            ) from None

    def reserve(self) -> float:
        """Take the next slot in the shared schedule; return how long until it may be used."""
        with self._lock:
            now = time.monotonic()
            if self._slots_left and self._next_slot < now - LATE_SLOT_SECONDS:
                self._slots_left = 0  # the process stalled past its lease: those slots are gone
            if not self._slots_left:
                first_in = self._lease_or_explain()
                now = time.monotonic()
                self._next_slot = now + first_in
                self._slots_left = self.lease_slots
            slot = self._next_slot
            self._next_slot += self._interval
            self._slots_left -= 1
        return max(0.0, slot - CATCH_UP_SECONDS - now)

    def _close_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                self._connection.close()
            self._connection = None

    def close(self) -> None:
        """Close the limiter's connection (a later request opens a new one)."""
        with self._lock:
            self._close_connection()
