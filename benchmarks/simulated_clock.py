"""`loyalty-sync` with its local clock reading the simulator's, so a simulated day is a day.

A sync believes Capillary's `Date` only within minutes of its own clock
(`loyalty_sync.capillary.clock`), and the day it believes it is decides which items are
due by max age and which were fetched today. The simulator's clock runs on simulated
days: after `/_admin/advance` its `Date` is a day ahead of the host's, so a sync on the
host's clock would distrust it and take the day for the same day as the last sync's,
fetching only what a signal names and nothing due by age (a "daily" sync that is not one).

The tests make the local clock follow the simulator in process
(`loyalty_sync_tests/simulated_clock.py`); a benchmark measures the sync as a process of
its own, so this module is that process: it sets the one function the product reads the
local clock through, then runs the `loyalty-sync` command unchanged.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:  # the measured process imports no more than `loyalty-sync` does
    from capillary_simulator import RunningSimulator

OFFSET_VARIABLE = "LOYALTY_SYNC_BENCHMARK_CLOCK_OFFSET_SECONDS"


def offset_environment(simulator: RunningSimulator) -> dict[str, str]:
    """The variable that sets this process's clock to the simulator's, as its `Date` reads now."""
    date = httpx.get(f"{simulator.base_url}/_admin/health", timeout=10).headers["Date"]
    offset = parsedate_to_datetime(date) - datetime.now(UTC)
    return {OFFSET_VARIABLE: str(offset.total_seconds())}


def command() -> list[str]:
    """`loyalty-sync` run through this module: the arguments follow."""
    return [sys.executable, "-m", "benchmarks.simulated_clock"]


def main() -> None:
    from loyalty_sync import cli
    from loyalty_sync.capillary import clock

    offset = timedelta(seconds=float(os.environ.get(OFFSET_VARIABLE, "0")))
    clock.local_now = lambda: datetime.now(UTC) + offset
    sys.argv[0] = "loyalty-sync"
    cli.main()


if __name__ == "__main__":
    main()
