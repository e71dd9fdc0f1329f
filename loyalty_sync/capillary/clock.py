"""Capillary's clock, read from the `Date` header of its answers.

Why not the local clock: a change-driven sync compares the catalogue's `createdOn` and
`lastModifiedOn`, which Capillary stamps, with when it last fetched each item. Both must
come from one clock, or a skewed host skips a promotion created "before" its last fetch.
Capillary's own clock is also what its data changes by, so the day a sync believes it is
(for max-age buckets) is Capillary's day. Without a `Date` header the local clock stands in.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


class SourceClock:
    """The latest `Date` header seen, carried forward by the local monotonic clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: tuple[datetime, float] | None = None

    def observe(self, header: str | None) -> None:
        if not header:
            return
        try:
            stamp = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            return  # a header we cannot read is no clock; keep the last one
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        with self._lock:
            self._seen = (stamp.astimezone(UTC), time.monotonic())

    @property
    def observed(self) -> bool:
        return self._seen is not None

    def now(self) -> datetime:
        with self._lock:
            seen = self._seen
        if seen is None:
            return datetime.now(UTC)
        stamp, at = seen
        return stamp + timedelta(seconds=time.monotonic() - at)
