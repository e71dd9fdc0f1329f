"""Configuration and connection errors as a Dagster `Failure` whose first line is the fix.

A run that fails because a variable is missing, a host or the warehouse cannot be reached,
or the warehouse holds another source's data, should say so on the run's page, not in
the fortieth line of a traceback. The reasons are the CLI's (`sync/reasons.py`), so the
UI and the terminal name the same thing to fix. Other errors pass through untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from loyalty_sync.sync.reasons import plain_reason, warehouse_problem

# The `kind` of a failure the warehouse caused and a person must fix (read-only, grants,
# disk): the CLI ends on it in one line, exit 2, as it does before runs start.
WAREHOUSE = "warehouse"


def failure(reason: str, error: str = "configuration") -> dg.Failure:
    """A step failure that retrying the step cannot fix (`allow_retries=False`)."""
    return dg.Failure(
        description=reason,
        metadata={"reason": reason, "kind": error},
        allow_retries=False,
    )


@contextmanager
def reported_plainly() -> Iterator[None]:
    """Re-raise a configuration or connection error as a `Failure` with its reason."""
    try:
        yield
    except dg.Failure:
        raise
    except Exception as exc:
        reason = plain_reason(exc)
        if reason is None:
            raise
        kind = WAREHOUSE if warehouse_problem(exc) else type(exc).__name__
        raise failure(reason, kind) from exc
