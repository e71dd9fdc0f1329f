"""The problems a person fixes, named in one line from the error the sync met.

The subprocess tests in `cli/test_errors.py` meet most of them as a user does; these reach
each kind in process, with those a test server cannot be made to give (a full disk, a
refused password).
"""

from __future__ import annotations

import dagster as dg
import httpx
import psycopg
import pytest
import sqlalchemy as sa

from loyalty_sync.capillary.config import CapillaryConfigError
from loyalty_sync.capillary.errors import (
    AuthenticationError,
    ConnectedOrgNotSet,
    RetriesExhausted,
    TransientError,
    Unreachable,
)
from loyalty_sync.defs.failures import WAREHOUSE, reported_plainly
from loyalty_sync.sync.reasons import plain_reason, warehouse_problem

URL = "postgresql+psycopg://bob:hunter2@db.example:5432/warehouse"


def _wrapped(error: Exception) -> sa.exc.DBAPIError:
    """`error` as SQLAlchemy raises it from a statement."""
    return sa.exc.DBAPIError.instance("INSERT ...", {}, error, psycopg.Error)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            psycopg.errors.DiskFull('could not extend file "base/1/2": No space left on device'),
            "is out of disk space: could not extend file",
        ),
        (
            psycopg.OperationalError(
                'connection failed: connection to server at "10.0.0.1", port 5432 failed: '
                'FATAL:  password authentication failed for user "bob"'
            ),
            "refused the login of role bob",
        ),
        (
            psycopg.errors.InsufficientPrivilege("permission denied for table customers"),
            "refuses role bob: permission denied for table customers; GRANT",
        ),
    ],
    ids=["disk-full", "password", "permission"],
)
def test_a_warehouse_problem_is_one_line_naming_the_url_without_password(
    monkeypatch: pytest.MonkeyPatch, error: Exception, said: str
) -> None:
    monkeypatch.setenv("LOYALTY_SYNC_DATABASE_URL", URL)
    reason = warehouse_problem(_wrapped(error))
    assert reason == plain_reason(_wrapped(error))
    assert reason is not None and "\n" not in reason and "hunter2" not in reason
    assert reason.startswith(
        "the warehouse postgresql+psycopg://bob:***@db.example:5432/warehouse "
    )
    assert said in reason
    # In a Dagster step, the failure says the warehouse is the cause, for the CLI's exit 2.
    with pytest.raises(dg.Failure) as failed, reported_plainly():
        raise _wrapped(error)
    assert failed.value.description == reason
    assert failed.value.metadata["kind"].value == WAREHOUSE


def test_a_lost_connection_is_no_warehouse_problem_but_still_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOYALTY_SYNC_DATABASE_URL", URL)
    lost = sa.exc.OperationalError(
        "SELECT 1", {}, psycopg.OperationalError("server closed the connection unexpectedly")
    )
    assert warehouse_problem(lost) is None
    assert (plain_reason(lost) or "").startswith("cannot connect to the warehouse")


@pytest.fixture
def api_host(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CAPILLARY_BASE_URL", "https://eu.api.example")
    return "https://eu.api.example"


@pytest.mark.parametrize(
    ("error", "starts", "names"),
    [
        (
            AuthenticationError(401, "bad credentials"),
            "Capillary at https://eu.api.example refused the credentials (bad credentials)",
            "CAPILLARY_OAUTH_KEY",
        ),
        (
            ConnectedOrgNotSet(310144, "org not connected"),
            "Capillary at https://eu.api.example does not let this credential reach an org",
            "CAPILLARY_ORG_IDS",
        ),
        (
            Unreachable(None, "name or service not known"),
            "cannot reach Capillary at https://eu.api.example: name or service not known",
            "CAPILLARY_BASE_URL",
        ),
        (
            RetriesExhausted.after(5, TransientError(None, "connection reset")),
            "cannot reach Capillary at https://eu.api.example: connection reset",
            "the network",
        ),
        (
            httpx.ConnectError("refused\nsecond line"),
            "cannot reach https://eu.api.example: refused;",
            "CAPILLARY_BASE_URL",
        ),
        (CapillaryConfigError("CAPILLARY_ORG_IDS is required"), "CAPILLARY_ORG_IDS", "required"),
    ],
    ids=["auth", "connected-org", "unreachable", "outage", "transport", "config"],
)
def test_capillary_problems_name_the_host_and_the_variable_to_fix(
    api_host: str, error: Exception, starts: str, names: str
) -> None:
    reason = plain_reason(error)
    assert reason is not None and reason.startswith(starts)
    assert names in reason and "\n" not in reason


def test_a_reason_is_found_through_the_errors_that_wrap_it(api_host: str) -> None:
    try:
        try:
            raise Unreachable(None, "no route to host")
        except Unreachable as inner:
            raise RuntimeError("the pass failed") from inner
    except RuntimeError as outer:
        wrapped = outer
    assert (plain_reason(wrapped) or "").startswith("cannot reach Capillary")


def test_errors_that_are_ours_to_fix_keep_their_traceback(api_host: str) -> None:
    assert plain_reason(KeyError("customer_id")) is None
    # A server that answered with an error status is an outage, not a wrong host.
    outage = RetriesExhausted.after(5, TransientError(500, "internal error", http_status=500))
    assert plain_reason(outage) is None
    assert warehouse_problem(Unreachable(None, "x")) is None


def test_without_a_base_url_the_host_is_the_bundled_simulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CAPILLARY_BASE_URL", raising=False)
    assert (plain_reason(Unreachable(None, "down")) or "").startswith(
        "cannot reach Capillary at the bundled simulator"
    )
