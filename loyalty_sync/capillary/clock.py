"""Capillary's clock, read from the `Date` header of its answers, within reason.

Why not simply the local clock: a change-driven sync compares the catalogue's `createdOn`
and `lastModifiedOn`, which Capillary stamps, with when it last fetched each item. Both
must come from one clock, or a skewed host skips a promotion created "before" its last
fetch. Capillary's own clock is also what its data changes by, so the day a sync believes
it is (for max-age buckets) is Capillary's day.

Why only within `CLOCK_SKEW_TOLERANCE` of the local clock: a `Date` of 2099 once stored
as every item's fetch time made every later sync skip every item as fetched today, for
good. A header further off than the tolerance (or none at all, or one that cannot be
read) is no clock: the local clock stands in, and the first such header is kept as the
one problem a pass reports (`take_problem`). Neither clock can move an item's state into
the future: the state is stamped no later than the warehouse's own clock
(`sync.change_signals`).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# How far Capillary's `Date` may be from the local clock and still be believed. NTP keeps
# real hosts within a second; minutes allow for a slow proxy, not for a wrong clock.
CLOCK_SKEW_TOLERANCE = timedelta(minutes=5)


def local_now() -> datetime:
    """The local clock (a module function, so a test can follow a simulated clock)."""
    return datetime.now(UTC)


class SourceClock:
    """The latest believable `Date` header, carried forward by the local monotonic clock."""

    def __init__(self, tolerance: timedelta = CLOCK_SKEW_TOLERANCE) -> None:
        self.tolerance = tolerance
        self._lock = threading.Lock()
        self._seen: tuple[datetime, float] | None = None
        self._problem: str | None = None
        self._reported = False

    def observe(self, header: str | None) -> None:
        stamp = _parsed(header)
        local = local_now()
        if stamp is None or abs(stamp - local) > self.tolerance:
            what = f"Date {header!r}" if header else "no Date header"
            self._distrust(
                f"Capillary's clock is not believed ({what}; the local clock reads "
                f"{local:%Y-%m-%d %H:%M:%S} UTC, more than "
                f"{self.tolerance.total_seconds() / 60:g} min apart or unreadable): the "
                "local clock dates this sync's fetches"
            )
            return
        with self._lock:
            self._seen = (stamp, time.monotonic())

    def _distrust(self, problem: str) -> None:
        with self._lock:
            self._seen = None
            if self._problem is None:
                self._problem = problem

    @property
    def observed(self) -> bool:
        """Whether any answer has been read: trusted or not, `now` is then decided."""
        return self._seen is not None or self._problem is not None

    def take_problem(self) -> str | None:
        """The first untrusted header's description, once per client: it is reported once."""
        with self._lock:
            if self._problem is None or self._reported:
                return None
            self._reported = True
            return self._problem

    def now(self) -> datetime:
        with self._lock:
            seen = self._seen
        if seen is None:
            return local_now()
        stamp, at = seen
        return stamp + timedelta(seconds=time.monotonic() - at)


def _parsed(header: str | None) -> datetime | None:
    if not header:
        return None
    try:
        stamp = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)
