"""The warehouse problems a person fixes, named in one line from the error the sync met.

The subprocess tests in `cli/test_errors.py` meet most of them on a real server; these
are the ones a test server cannot be made to give (a full disk, a refused password).
"""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa

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
