"""The simulator's clock: the reference date, moved by whole simulated days.

A sync reads Capillary's clock from the `Date` header of its answers and compares it
with catalogue times on its next run, so the simulator needs a clock that moves with the
days it simulates and never runs backwards. It reads reference date midnight UTC plus
`day` days plus the wall seconds since the last advance (or since start). The data's
derivation never reads it: only admin changes are stamped with it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from email.utils import format_datetime

from capillary_simulator.timefmt import DAY_MS, date_ms


class SimulatedClock:
    """Day 0 is the reference date; `advance` moves to later days, monotonically."""

    def __init__(self, reference_date: date) -> None:
        self._ref_ms = date_ms(reference_date)
        self._lock = threading.Lock()
        self._day = 0
        self._since = time.monotonic()
        self._last_ms = self._ref_ms

    @property
    def day(self) -> int:
        return self._day

    def day_start_ms(self, day: int) -> int:
        """Midnight UTC starting simulated day `day` (day 0: the reference date)."""
        return self._ref_ms + day * DAY_MS

    def now_ms(self) -> int:
        """The simulated now; never smaller than any reading before it."""
        with self._lock:
            elapsed = int((time.monotonic() - self._since) * 1000)
            self._last_ms = max(self._last_ms, self.day_start_ms(self._day) + elapsed)
            return self._last_ms

    def advance(self, days: int) -> int:
        """Move `days` days on; the wall seconds start counting again. The new day."""
        with self._lock:
            self._day += days
            self._since = time.monotonic()
            self._last_ms = max(self._last_ms, self.day_start_ms(self._day))
            return self._day

    def today(self) -> date:
        return datetime.fromtimestamp(self.day_start_ms(self._day) / 1000, tz=UTC).date()

    def http_date(self) -> str:
        """`now_ms()` as an RFC 7231 `Date` header value."""
        moment = datetime.fromtimestamp(self.now_ms() / 1000, tz=UTC)
        return format_datetime(moment, usegmt=True)
