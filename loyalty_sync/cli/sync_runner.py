"""How `loyalty-sync sync` runs: discover partitions, then materialise every asset in process.

The runs go through the same job as the Dagster UI's (`capillary_sync`) on the instance of
DAGSTER_HOME, so their materialisations, check results and partitions show in the UI. A
run covers a contiguous block of partition keys (single-run backfill policy): syncing
everything is one run, and an org's programs share their customer lookups.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loyalty_sync.defs import dead_runs
from loyalty_sync.defs.jobs import TRIGGER_TAG, block_target, contiguous_blocks
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.defs.resources import CapillaryResource, WarehouseResource
from loyalty_sync.instance import local_instance
from loyalty_sync.settings import home_dir
from loyalty_sync.sync import progress
from loyalty_sync.sync.discovery import discover_programs
from loyalty_sync.warehouse import locks, tables
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync.warehouse.scope import parse_partition_key

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

log = logging.getLogger(__name__)


class SyncError(RuntimeError):
    """The sync cannot start: bad partition keys, no roster, unreachable API."""


@dataclass
class RunOutcome:
    run_id: str
    partition_keys: list[str]
    success: bool
    error: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SyncSummary:
    runs: list[RunOutcome] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    retries: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    new_partitions: list[str] = field(default_factory=list)
    endpoint: dict[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return bool(self.runs) and all(r.success for r in self.runs)


class RichReporter:
    """Progress bars per pass and org, for a person watching the terminal."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, Any] = {}
        self.calls: Callable[[], int] = lambda: 0

    def start(self, task: str, total: int) -> None:
        self.tasks[task] = self.bar.add_task(task, total=total, calls=self.calls())

    def advance(self, task: str, amount: int = 1) -> None:
        if task in self.tasks:
            self.bar.update(self.tasks[task], advance=amount, calls=self.calls())

    def count_calls_with(self, counter: Callable[[], int]) -> None:
        self.calls = counter


def import_simulator_roster(capillary: CapillaryResource, engine: sa.Engine) -> int:
    """On the bundled simulator with an empty roster, load the simulator's own roster."""
    if not capillary.describe().get("capillary_simulator"):
        return 0
    with engine.connect() as conn:
        if conn.scalar(sa.select(sa.func.count()).select_from(tables.customer_roster)):
            return 0
    base_url = capillary.resolved_settings().base_url
    response = httpx.get(f"{base_url}/_admin/roster.csv", timeout=30)
    response.raise_for_status()
    path = home_dir() / "simulator-roster.csv"
    path.write_text(response.text)
    report = import_roster(engine, path)
    return report.loaded


def _root_cause(error: Any) -> str:
    """The innermost error of a step failure: what went wrong, not where Dagster caught it."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return str(getattr(error, "message", error)).strip()


def _check_rows(result: Any) -> list[dict[str, Any]]:
    rows = []
    for evaluation in result.get_asset_check_evaluations():
        rows.append(
            {
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "passed": evaluation.passed,
                "severity": evaluation.severity.value,
                "description": next(iter((evaluation.description or "").splitlines()), ""),
            }
        )
    return rows


def _totals(engine: sa.Engine, run_ids: list[str], summary: SyncSummary) -> None:
    t = tables.sync_runs
    with engine.connect() as conn:
        for row in conn.execute(sa.select(t).where(t.c.run_id.in_(run_ids))):
            summary.calls += row.api_calls or 0
            summary.retries += row.retries or 0
        events = tables.api_events
        summary.warnings.update(
            {
                str(code): int(count)
                for code, count in conn.execute(
                    sa.select(events.c.code, sa.func.count())
                    .where(events.c.run_id.in_(run_ids), events.c.code.is_not(None))
                    .group_by(events.c.code)
                )
            }
        )
        for table in (*tables.CONTRACT_TABLES, *tables.REPORT_TABLES):
            summary.rows[table.name] = int(
                conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            )


def run_sync(
    partition_keys: list[str] | None = None,
    *,
    console: Console | None = None,
    show_progress: bool = True,
) -> SyncSummary:
    from loyalty_sync.definitions import build_defs
    from loyalty_sync.defs.jobs import CAPILLARY_SYNC_JOB

    for key in partition_keys or []:
        parse_partition_key(key)
    console = console or Console(stderr=True)
    instance = local_instance()
    defs = build_defs()
    resources = defs.resources
    capillary: CapillaryResource = resources["capillary"]  # type: ignore[assignment]
    warehouse: WarehouseResource = resources["warehouse"]  # type: ignore[assignment]
    engine = warehouse.get_engine()
    summary = SyncSummary(endpoint={**capillary.describe(), **warehouse.describe()})
    say = partial(console.print, soft_wrap=True, highlight=False, markup=False)
    for line in dead_runs.clean_up(instance, engine):
        say(line)

    loaded = import_simulator_roster(capillary, engine)
    if loaded:
        console.print(f"roster was empty: loaded {loaded} identifiers from the simulator")

    discovered = discover_programs(capillary.get_client(), capillary.org_id_list())
    known = set(instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
    summary.new_partitions = [p.key for p in discovered if p.key not in known]
    if summary.new_partitions:
        instance.add_dynamic_partitions(ORG_PROGRAM_PARTITIONS, summary.new_partitions)
    ordered = list(instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
    selected = partition_keys or [p.key for p in discovered]
    unknown = [k for k in selected if k not in ordered]
    if unknown:
        raise SyncError(
            f"unknown partition(s) {', '.join(unknown)}; known: {', '.join(ordered) or 'none'}"
        )
    if not selected:
        raise SyncError("no org/program partitions: /v2/organization/programs listed none")

    job = defs.resolve_job_def(CAPILLARY_SYNC_JOB)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[calls]:>6,} API calls"),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
    )
    progress.set_reporter(RichReporter(bar))
    try:
        with bar:
            for block in contiguous_blocks(selected, ordered):
                partition_key, range_tags = block_target(block)
                # The whole run holds its partitions; waits are said and can be interrupted.
                with locks.hold(engine, block, holder=f"sync pid {os.getpid()}", say=say):
                    dead_runs.wait_for_pool_slot(instance, say)
                    result = job.execute_in_process(
                        instance=instance,
                        partition_key=partition_key,
                        tags={TRIGGER_TAG: "cli", **range_tags},
                        run_config=QUIET_LOGS,
                        raise_on_error=False,
                    )
                error = None
                if not result.success:
                    failures = [
                        _root_cause(e.event_specific_data.error)  # type: ignore[union-attr]
                        for e in result.all_events
                        if e.is_step_failure and e.event_specific_data is not None
                    ]
                    error = "; ".join(failures) or "run failed"
                summary.runs.append(
                    RunOutcome(result.run_id, block, result.success, error, _check_rows(result))
                )
    finally:
        progress.set_reporter(None)
    _totals(engine, [r.run_id for r in summary.runs], summary)
    return summary
