"""One or two lines a person can act on, for the errors that are configuration or connection.

A missing variable, refused credentials, an unreachable host or database are not bugs:
a traceback buries the one thing to fix. The CLI prints these reasons and exits 2; the
Dagster layer raises them as a `Failure` so a run's page shows the reason first. Every
other exception returns None here and keeps its traceback, since it is ours to fix.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import httpx
import sqlalchemy as sa

from loyalty_sync.capillary.config import (
    ENV_BASE_URL,
    ENV_OAUTH_KEY,
    ENV_OAUTH_SECRET,
    ENV_ORG_IDS,
    ENV_PASSWORD,
    ENV_USERNAME,
    CapillaryConfigError,
)
from loyalty_sync.capillary.errors import (
    AuthenticationError,
    ConnectedOrgNotSet,
    RetriesExhausted,
    TransientError,
    Unreachable,
)
from loyalty_sync.warehouse.database import (
    DATABASE_URL_ENV,
    DatabaseConfigError,
    configured_url,
    database_problem,
    warehouse_name,
)
from loyalty_sync.warehouse.scope import PartitionKeyError
from loyalty_sync.warehouse.source import SourceMismatchError

_AS_IS = (CapillaryConfigError, DatabaseConfigError, SourceMismatchError, PartitionKeyError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def api_host() -> str:
    return os.environ.get(ENV_BASE_URL, "").strip() or "the bundled simulator"


def _first_line(exc: BaseException) -> str:
    return next(iter(str(exc).strip().splitlines()), type(exc).__name__)


def _first(exc: BaseException, explain: Callable[[BaseException], str | None]) -> str | None:
    """What `explain` says of `exc` or, failing that, of the first error it wraps."""
    return next((r for r in map(explain, _chain(exc)) if r), None)


def plain_reason(exc: BaseException) -> str | None:
    """The actionable reason behind `exc` (or an error it wraps), or None for a bug."""
    return _first(exc, _reason)


def warehouse_problem(exc: BaseException) -> str | None:
    """The reason behind `exc` when the warehouse refuses what a sync must do and a person
    must change that (read-only, grants, disk, database, role, login): a configuration
    error (exit 2) wherever the sync meets it, even once runs have started."""
    return _first(exc, _warehouse_reason)


def _warehouse_reason(error: BaseException) -> str | None:
    if isinstance(error, DatabaseConfigError):
        return str(error)
    if isinstance(error, sa.exc.DBAPIError) and error.orig is not None:
        problem = database_problem(error.orig, configured_url())
        if problem:
            return f"the warehouse {warehouse_name()} {problem}"
    return None


def _reason(error: BaseException) -> str | None:
    if isinstance(error, _AS_IS):
        return str(error)
    if isinstance(error, AuthenticationError):
        return (
            f"Capillary at {api_host()} refused the credentials ({error.message}): check "
            f"{ENV_OAUTH_KEY} and {ENV_OAUTH_SECRET}, or {ENV_USERNAME} and {ENV_PASSWORD}"
        )
    if isinstance(error, ConnectedOrgNotSet):
        return (
            f"Capillary at {api_host()} does not let this credential reach an org of "
            f"{ENV_ORG_IDS} ({error.message}): list connected orgs only, own org first"
        )
    if isinstance(error, Unreachable):
        return f"cannot reach Capillary at {api_host()}: {error.message}; check {ENV_BASE_URL}"
    last = error.last_error if isinstance(error, RetriesExhausted) else error
    if isinstance(last, TransientError) and last.http_status is None:
        return (
            f"cannot reach Capillary at {api_host()}: {last.message}; check {ENV_BASE_URL} "
            "and the network"
        )
    if isinstance(error, httpx.TransportError):
        return f"cannot reach {api_host()}: {_first_line(error)}; check {ENV_BASE_URL}"
    warehouse = _warehouse_reason(error)
    if warehouse:
        return warehouse
    if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError):
        return (
            f"cannot connect to the warehouse {warehouse_name()}: "
            f"{_first_line(error.orig or error)}; check {DATABASE_URL_ENV}"
        )
    return None
