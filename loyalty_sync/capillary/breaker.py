"""A circuit breaker for the client: when Capillary is down, pause everyone and probe.

Why: with 16 threads each retrying on its own, an outage turns into a storm of failing
requests and thousands of log lines, and a 429 storm into more 429s. Once `threshold`
transient failures come in a row (no success between them), the breaker opens: every
thread waits before sending, and one request at a time probes, at growing intervals
(never sooner than a Retry-After the API gave). The probe's success closes it and the
waiting threads carry on. The log says once that Capillary is unavailable (since when,
how many calls wait) and once that it is back.

Under load, answers to requests sent before the breaker opened keep arriving after it:
one of them says nothing about Capillary now, and closing on it would let every thread
loose into the outage and announce it a second time. So each request carries the
`Attempt` it was let through with, and only the answer to a request sent while the
breaker was open (the probe) opens or backs off the probe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("loyalty_sync.capillary")


@dataclass(frozen=True)
class Attempt:
    """What the breaker was when a request was let through: which opening, and whether the
    request is that opening's probe."""

    opening: int
    probe: bool = False


class CircuitBreaker:
    def __init__(
        self,
        threshold: int = 8,
        probe_initial_seconds: float = 1.0,
        probe_max_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.probe_initial = probe_initial_seconds
        self.probe_max = probe_max_seconds
        self._clock = clock
        self._cond = threading.Condition()
        self._failures = 0
        self._open_since: float | None = None
        self._interval = probe_initial_seconds
        self._next_probe = 0.0
        self._probing = False
        self._waiting = 0
        self.openings = 0

    @property
    def failures_in_a_row(self) -> int:
        """Transient failures since the API last answered, over every call of the client."""
        with self._cond:
            return self._failures

    @property
    def is_open(self) -> bool:
        with self._cond:
            return self._open_since is not None

    def before_attempt(self) -> Attempt:
        """Return when this thread may send: at once when closed, else as the probe."""
        with self._cond:
            while self._open_since is not None:
                now = self._clock()
                if not self._probing and now >= self._next_probe:
                    self._probing = True
                    return Attempt(self.openings, probe=True)
                self._waiting += 1
                try:
                    self._cond.wait(timeout=min(1.0, max(0.05, self._next_probe - now)))
                finally:
                    self._waiting -= 1
            return Attempt(self.openings)

    def _is_probe(self, attempt: Attempt) -> bool:
        return attempt.probe and attempt.opening == self.openings

    def succeeded(self, attempt: Attempt) -> None:
        """An answer to `attempt`: closes an open breaker only if it was the probe."""
        with self._cond:
            if self._open_since is None:
                self._failures = 0
                return
            if not self._is_probe(attempt):
                return  # sent before the outage was seen: says nothing about now
            logger.warning(
                "Capillary is answering again after %.0f s unavailable; %d call(s) resume",
                self._clock() - self._open_since,
                self._waiting,
            )
            self._failures = 0
            self._open_since = None
            self._probing = False
            self._interval = self.probe_initial
            self._cond.notify_all()

    def failed(self, attempt: Attempt, reason: str, retry_after: float | None = None) -> None:
        """A transient failure (5xx, timeout, broken body, 429) of `attempt`."""
        with self._cond:
            now = self._clock()
            self._failures += 1
            if self._open_since is not None:
                if self._is_probe(attempt):
                    self._probing = False
                    self._interval = min(self._interval * 2, self.probe_max)
                    self._next_probe = now + max(self._interval, retry_after or 0.0)
                return
            if self._failures >= self.threshold:
                self._open_since = now
                self.openings += 1
                self._interval = self.probe_initial
                self._next_probe = now + max(self._interval, retry_after or 0.0)
                logger.warning(
                    "Capillary unavailable: %d calls failed in a row (last: %s); pausing every "
                    "call and probing every %g-%g s until it answers",
                    self._failures,
                    reason,
                    self.probe_initial,
                    self.probe_max,
                )
