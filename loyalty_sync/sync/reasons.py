"""One or two lines a person can act on, for the errors that are configuration or connection.

A missing variable, refused credentials, an unreachable host or database are not bugs:
a traceback buries the one thing to fix. The CLI prints these reasons and exits 2; the
Dagster layer raises them as a `Failure` so a run's page shows the reason first. Every
other exception returns None here and keeps its traceback, since it is ours to fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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
from loyalty_sync.warehouse.database import DATABASE_URL_ENV, DatabaseConfigError, describe_url
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


def warehouse_name() -> str:
    """The warehouse URL without its password, or where the embedded server lives."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if not url:
        return "the embedded PostgreSQL under LOYALTY_SYNC_HOME/postgres"
    try:
        return describe_url(url)
    except Exception:  # an unparsable URL is DatabaseConfigError's to report
        return DATABASE_URL_ENV


def _first_line(exc: BaseException) -> str:
    return next(iter(str(exc).strip().splitlines()), type(exc).__name__)


def plain_reason(exc: BaseException) -> str | None:
    """The actionable reason behind `exc` (or an error it wraps), or None for a bug."""
    for error in _chain(exc):
        reason = _reason(error)
        if reason:
            return reason
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
    if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError):
        return (
            f"cannot connect to the warehouse {warehouse_name()}: "
            f"{_first_line(error.orig or error)}; check {DATABASE_URL_ENV}"
        )
    return None
