"""The shared rate limiter's Postgres backend: one GCRA schedule per API key for every process.

The algorithm and its in-memory twin live in `capillary/ratelimit.py`; this is where the
schedule is kept when several processes (a backfill's runs, a sensor, a CLI sync) share
one API key, in the warehouse's `api_rate_limits` table.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loyalty_sync.capillary.ratelimit import (
    CATCH_UP_SECONDS,
    LATE_SLOT_SECONDS,
    LEASE_SECONDS,
    MAX_LEASE_SLOTS,
    RateLimiterError,
    SleepsUntilItsSlot,
    slot_interval,
)
from loyalty_sync.warehouse import tables

RATE_LIMIT_TABLE = f"{tables.SCHEMA}.{tables.api_rate_limits.name}"


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


class PostgresRateLimiter(SleepsUntilItsSlot):
    """GCRA whose TAT lives in `capillary.api_rate_limits`, shared by every process.

    Every request costs one statement, so it runs on one autocommit connection the limiter
    keeps for itself (detached from the engine's pool), with the threads of a process
    taking turns on it. A pooled connection per request cost more than the statement: a
    checkout, a pre-ping and a reset, and with more request threads than pooled
    connections, a new server backend each time. The turns cost nothing extra, since
    every reservation of a key queues on the key's row lock anyway.

    The connection is opened on the first reservation, so building a limiter (and the
    resource that holds it) does not reach the database.
    """

    def __init__(
        self,
        limit_per_minute: int,
        key_hash: str,
        engine: Engine,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit_per_minute = limit_per_minute
        self._interval = slot_interval(limit_per_minute)
        self.lease_slots = max(1, min(MAX_LEASE_SLOTS, int(LEASE_SECONDS / self._interval)))
        self._params = {"key": key_hash, "span": self.lease_slots * self._interval}
        self._next_slot = 0.0  # time.monotonic() of the next leased slot
        self._slots_left = 0
        self._engine = engine
        self._sleep = sleep
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None

    def _set_pace(self, pace: float) -> None:
        with self._lock:
            super()._set_pace(pace)
            self._params["span"] = self.lease_slots * self._interval

    def _connect(self) -> psycopg.Connection[Any]:
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
