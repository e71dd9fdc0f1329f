"""Item 7: syncs broken the way production breaks them, against a clean sync of the same data.

Each scenario syncs the simulator's data into a fresh database while something goes
wrong, then compares the calls made, the wall time and the warehouse with a clean sync
(item 1's first sync when it ran in the same command, else one made here):

- kill: SIGKILL once the benefits pass has sent 60 % of the clean sync's actionSummary
  requests, then a rerun, on the same warehouse and Dagster instance, as a user reruns
  it. Passes commit in chunks with a checkpoint, so the rerun resumes rather than starts
  over; what the kill costs is the calls of the chunk it interrupted.
- outage: every answer a 5xx for 75 s from the middle of the benefits pass (half the
  clean sync's actionSummary requests); the client's breaker pauses and probes, and the
  sync carries on once the API answers again, within its retry budget.
- third failing: a third of answers fail from start to end (17 % 5xx, 16 % truncated
  bodies); every failed call is retried.

Every scenario runs with the product's defaults (chunk size, retry budget) at item 1's
pace; calls are every request the simulator received, failed ones included.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    BenchDatabases,
    ProcessMeasure,
    WarehouseContent,
    content_differences,
    load_roster,
    run_sync,
    wait_for_requests,
    warehouse_content,
)
from capillary_simulator import RunningSimulator

BENEFITS_ENDPOINT = "actionSummary"
KILL_SHARE = 0.6
OUTAGE_SHARE = 0.5
OUTAGE_SECONDS = 75.0
FAILING_ALL_ALONG: dict[str, float] = {"error_rate": 0.17, "malformed_rate": 0.16}
NO_FAULTS: dict[str, Any] = {
    "error_rate": 0.0,
    "malformed_rate": 0.0,
    "throttle_rate": 0.0,
    "failing_customers": [],
}


@dataclass
class CleanSync:
    """A fault-free sync: what it cost and what it left in the warehouse."""

    measure: ProcessMeasure
    content: WarehouseContent
    source: str  # where it came from, for the notes

    @property
    def benefit_requests(self) -> int:
        return self.measure.requests_to(BENEFITS_ENDPOINT)


@dataclass
class FaultRun:
    """One scenario: its syncs in order (a killed sync, then its rerun) and the verdict."""

    name: str
    syncs: list[ProcessMeasure]
    differences: list[str]
    detail: dict[str, float] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.syncs)

    @property
    def wall_seconds(self) -> float:
        return sum(s.wall_seconds for s in self.syncs)

    @property
    def faults_served(self) -> int:
        return sum(s.faults_served for s in self.syncs)

    @property
    def returncode(self) -> int:
        """The last sync's: the one that has to finish the work."""
        return self.syncs[-1].returncode


def _prepared(work: Path, databases: BenchDatabases, simulator: RunningSimulator, name: str) -> str:
    url = databases.fresh(f"bench_faults_{name}")
    load_roster(url, simulator, work / f"faults-{name}-roster.csv")
    return url


def clean_sync(
    work: Path, databases: BenchDatabases, simulator: RunningSimulator, rate: int
) -> CleanSync:
    url = _prepared(work, databases, simulator, "clean")
    measure = run_sync(work, "faults-clean", simulator, url, rate)
    return CleanSync(measure, warehouse_content(url), "a clean sync of this item")


def killed_then_rerun(
    work: Path, databases: BenchDatabases, simulator: RunningSimulator, rate: int, clean: CleanSync
) -> FaultRun:
    url = _prepared(work, databases, simulator, "kill")
    at = int(clean.benefit_requests * KILL_SHARE)

    def kill(process: subprocess.Popen[bytes]) -> None:
        if wait_for_requests(simulator, BENEFITS_ENDPOINT, at, process):
            process.send_signal(signal.SIGKILL)

    shared = {"instance": "faults-kill", "check": False}
    killed = run_sync(work, "faults-killed", simulator, url, rate, during=kill, **shared)
    rerun = run_sync(work, "faults-rerun", simulator, url, rate, **shared)
    differences = content_differences(clean.content, warehouse_content(url))
    return FaultRun("kill", [killed, rerun], differences, {"kill_at": at})


def outage(
    work: Path, databases: BenchDatabases, simulator: RunningSimulator, rate: int, clean: CleanSync
) -> FaultRun:
    url = _prepared(work, databases, simulator, "outage")
    at = int(clean.benefit_requests * OUTAGE_SHARE)
    seen: dict[str, float] = {"outage_at": at}

    def take_down(process: subprocess.Popen[bytes]) -> None:
        if not wait_for_requests(simulator, BENEFITS_ENDPOINT, at, process):
            return
        simulator.set_faults(error_rate=1.0)
        began = time.perf_counter()
        try:
            while time.perf_counter() - began < OUTAGE_SECONDS and process.poll() is None:
                time.sleep(0.1)
        finally:
            simulator.set_faults(error_rate=0.0)
            seen["outage_seconds"] = time.perf_counter() - began

    measure = run_sync(work, "faults-outage", simulator, url, rate, during=take_down, check=False)
    return FaultRun(
        "outage", [measure], content_differences(clean.content, warehouse_content(url)), seen
    )


def third_failing(
    work: Path, databases: BenchDatabases, simulator: RunningSimulator, rate: int, clean: CleanSync
) -> FaultRun:
    url = _prepared(work, databases, simulator, "third")
    simulator.set_faults(**FAILING_ALL_ALONG)
    try:
        measure = run_sync(work, "faults-third", simulator, url, rate, check=False)
    finally:
        simulator.set_faults(**NO_FAULTS)
    differences = content_differences(clean.content, warehouse_content(url))
    return FaultRun("third", [measure], differences)


SCENARIOS = {"kill": killed_then_rerun, "outage": outage, "third": third_failing}


def run(
    work: Path,
    databases: BenchDatabases,
    simulator: RunningSimulator,
    rate: int,
    clean: CleanSync | None,
    names: Iterable[str] = tuple(SCENARIOS),
) -> tuple[CleanSync, list[FaultRun]]:
    """The scenarios `names` in turn on `simulator`, after a clean sync of its own if none given."""
    simulator.set_faults(**NO_FAULTS)
    if clean is None:
        clean = clean_sync(work, databases, simulator, rate)
        print(f"  clean: {clean.measure.wall_seconds:.1f} s, {clean.measure.calls:,} calls")
    runs = []
    for scenario in (SCENARIOS[name] for name in names):
        done = scenario(work, databases, simulator, rate, clean)
        print(
            f"  {done.name}: {done.wall_seconds:.1f} s, {done.calls:,} calls, exit "
            f"{done.returncode}, {'equal' if not done.differences else done.differences}",
            flush=True,
        )
        runs.append(done)
    return clean, runs
