"""The local clock, made to follow the simulator's simulated days.

The simulator's clock runs on simulated days, from a fixed date. A sync believes
Capillary's `Date` only near its own clock, so tests that move the simulated day make the
local clock follow the simulator's: the offset is taken from a `Date` header whenever the
simulated day moves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest

from capillary_simulator import RunningSimulator
from loyalty_sync.capillary import clock

_OFFSET = [timedelta(0)]


def follow(sim: RunningSimulator) -> None:
    """Set the local clock to the simulator's, as its `Date` header says it now."""
    date = httpx.get(f"{sim.base_url}/_admin/health", timeout=10).headers["Date"]
    _OFFSET[0] = parsedate_to_datetime(date) - datetime.now(UTC)


@contextmanager
def local_clock_following() -> Iterator[None]:
    """While open, the product's local clock reads the followed simulator's time."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "local_now", lambda: datetime.now(UTC) + _OFFSET[0])
        yield
    _OFFSET[0] = timedelta(0)
