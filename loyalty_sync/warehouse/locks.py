"""One sync of a partition at a time: a Postgres advisory lock per org/program partition.

Two syncs of one partition would both read the stored tiers, both record a customer's
tier as new, and interleave their merges. Advisory locks need no table and Postgres frees
them when their connection ends, so a run killed with SIGKILL (or lost with its machine,
once the server notices the dead connection) holds nothing. Each partition's lock is a
session-level `pg_try_advisory_lock` on a 64-bit key hashed from the partition key, on a
connection of its own whose `application_name` names the holder, so whoever waits can
say for whom.

A process takes each partition once: `hold` of keys this process already holds takes
nothing, so the CLI can hold a run's partitions for the whole run while every pass of the
run asks again. Keys are taken in sorted order, so two holders of overlapping sets
cannot deadlock.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from loyalty_sync.waiting import wait_until

APPLICATION_PREFIX = "loyalty_sync: "

_held: set[str] = set()
_guard = threading.Lock()


def lock_key(partition_key: str) -> int:
    """The partition's advisory lock key: stable across processes, machines and versions."""
    digest = hashlib.sha256(f"loyalty_sync partition {partition_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def holder_of(conn: sa.Connection, partition_key: str) -> str | None:
    """Who holds the partition's lock, as its `application_name` says (None: nobody)."""
    key = lock_key(partition_key)
    row = conn.execute(
        sa.text(
            "SELECT a.application_name, a.pid FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND l.classid::bigint = :hi AND l.objid::bigint = :lo"
        ),
        {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
    ).first()
    if row is None:
        return None
    name = str(row.application_name or "")
    return name.removeprefix(APPLICATION_PREFIX) or f"database session {row.pid}"


@contextmanager
def hold(
    engine: sa.Engine,
    partition_keys: Iterable[str],
    *,
    holder: str,
    say: Callable[[str], None],
) -> Iterator[None]:
    """Hold the locks of `partition_keys` (waiting for other holders) until the block ends.

    `holder` names this process's claim for others' messages ("run 1a2b...", "loyalty-sync
    sync, pid 41"); `say` reports a wait. A signal during the wait raises WaitInterrupted.
    """
    with _guard:
        wanted = sorted(set(partition_keys) - _held)
        _held.update(wanted)
    if not wanted:
        yield
        return
    # Outside the pool: the connection closes when the block ends, which frees its locks
    # even if an unlock were missed.
    locker = sa.create_engine(
        engine.url,
        poolclass=sa.pool.NullPool,
        connect_args={"application_name": (APPLICATION_PREFIX + holder)[:63]},
    )
    try:
        with locker.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for key in wanted:
                wait_until(_taker(conn, key, holder), say)
            yield
    finally:
        locker.dispose()
        with _guard:
            _held.difference_update(wanted)


def _taker(conn: sa.Connection, key: str, holder: str) -> Callable[[], str | None]:
    """Try to take `key`'s lock: None once taken, else who holds it (for the wait message)."""

    def taken() -> str | None:
        if conn.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(key)}):
            return None
        return f"{holder_of(conn, key) or 'another sync'} which holds partition {key}"

    return taken
