"""Retries of one call while its answer may change, within a time budget.

Answers that may change (429 after its `Retry-After`, 5xx, 461, 521, timeouts, dropped
connections, bodies that are not complete JSON) raise `TransientError` and are retried
with exponential backoff and jitter; every other error ends the call at once. The budget
is long enough to wait out an outage of minutes, so one does not fail a pass.

On a thread of `requeue.completed`, a call does not sleep its pause: it raises
`RetryLater` and its item is run again when the pause is over, its attempts and its
budget carried over in the call's `CallHistory`.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from loyalty_sync.capillary.errors import (
    MalformedResponse,
    RateLimited,
    RetriesExhausted,
    TransientError,
)
from loyalty_sync.capillary.pool import pause
from loyalty_sync.capillary.requeue import CallHistory, RetryLater
from loyalty_sync.capillary.settings import ClientSettings
from loyalty_sync.capillary.stats import ClientStats

logger = logging.getLogger("loyalty_sync.capillary")

T = TypeVar("T")

# A Retry-After beyond this is a server asking for the impossible; wait this long instead.
_MAX_RETRY_AFTER_SECONDS = 300.0


class _Backoff:
    """Retry-After when the server gave one (plus a little jitter), else exponential + jitter.

    The exponent counts the call's attempts in earlier runs of its item too. A requeued call
    grows it no further than the API's own failures in a row: the pause is there to spare
    an API that is failing, and a call that failed while the others were answered met a
    failure of its own, which a long pause would not cure (it would only hold up its pass).
    """

    def __init__(
        self,
        initial: float,
        maximum: float,
        earlier: CallHistory,
        failing_in_a_row: Callable[[], int] | None = None,
    ) -> None:
        self._exponential = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)
        self._earlier = earlier
        self._failing_in_a_row = failing_in_a_row

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientError) and error.retry_after is not None:
            pause = min(error.retry_after, _MAX_RETRY_AFTER_SECONDS)
            return pause + random.uniform(0, min(1.0, 0.1 * pause + 0.05))
        counted = copy.copy(state)
        counted.attempt_number += self._earlier.attempts
        if self._failing_in_a_row is not None:
            counted.attempt_number = min(counted.attempt_number, max(1, self._failing_in_a_row()))
        return self._exponential(counted)


class _Stop:
    """The call's attempts or its budget spent, counting its earlier runs."""

    def __init__(self, settings: ClientSettings, history: CallHistory) -> None:
        self._settings, self._history = settings, history

    def __call__(self, state: RetryCallState) -> bool:
        started = self._history.started
        elapsed = time.monotonic() - started if started is not None else 0.0
        attempts = self._history.attempts + state.attempt_number
        return (
            attempts >= self._settings.max_attempts
            or elapsed >= self._settings.retry_budget_seconds
        )


def _defer(seconds: float) -> None:
    raise RetryLater(seconds)


def retry_cause(error: BaseException | None) -> str:
    """What a retry was for, as counted in `retries_by_cause`."""
    if isinstance(error, RateLimited):
        return "429"
    if isinstance(error, MalformedResponse):
        return "malformed"
    if isinstance(error, TransientError) and error.http_status:
        return str(error.http_status)
    if isinstance(error, TransientError) and "connection" in error.message:
        return "connection"
    return "timeout" if isinstance(error, TransientError) else "other"


def _retrying(
    settings: ClientSettings,
    stats: ClientStats,
    endpoint: str,
    history: CallHistory | None,
    failing_in_a_row: Callable[[], int] | None,
) -> Retrying:
    earlier = history or CallHistory()

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        stats.record_retry(retry_cause(error))
        if history is not None:
            history.attempts += 1
        # Summed by cause in the stats; an outage is announced once by the breaker.
        logger.debug(
            "Capillary %s: %s; retry %d in %.2f s",
            endpoint,
            error,
            state.attempt_number,
            state.upcoming_sleep,
        )

    return Retrying(
        stop=(
            stop_after_delay(settings.retry_budget_seconds)
            | stop_after_attempt(settings.max_attempts)
            if history is None
            else _Stop(settings, history)
        ),
        wait=_Backoff(
            settings.backoff_initial_seconds,
            settings.backoff_max_seconds,
            earlier,
            failing_in_a_row if history is not None else None,
        ),
        retry=retry_if_exception_type(TransientError),
        before_sleep=before_sleep,
        sleep=pause if history is None else _defer,
    )


def with_retries(
    fn: Callable[[], T],
    settings: ClientSettings,
    stats: ClientStats,
    endpoint: str,
    history: CallHistory | None = None,
    failing_in_a_row: Callable[[], int] | None = None,
) -> T:
    """`fn()`, retried; `RetriesExhausted` (naming the last error) once the budget is spent.

    With the call's `history` (on a thread of `requeue.completed`), a pause is not slept
    but raised as `RetryLater`, and the call's attempts and budget carry over its runs;
    `failing_in_a_row` (the breaker's count) then bounds how far its pauses grow.
    """
    if history is not None and history.started is None:
        history.started = time.monotonic()
    try:
        return _retrying(settings, stats, endpoint, history, failing_in_a_row)(fn)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        assert isinstance(last, TransientError)
        earlier = history.attempts if history is not None else 0
        raise RetriesExhausted.after(earlier + exc.last_attempt.attempt_number, last) from None
