"""How `loyalty-sync sync` runs: check the source, discover partitions, run the job in process.

The runs go through the same job as the Dagster UI's (`capillary_sync`) on the instance of
DAGSTER_HOME, so their materialisations, check results and partitions show in the UI. A
run covers a contiguous block of partition keys (single-run backfill policy): syncing
everything is one run, and an org's programs share their customer lookups. Partition keys
that name no org/program (anyone can add one in the UI) are reported and left out.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import dagster as dg
import httpx
import sqlalchemy as sa
from rich.console import Console

from loyalty_sync.capillary.config import CapillaryConfigError
from loyalty_sync.cli.progress_display import progress_display
from loyalty_sync.cli.sync_results import (
    RunOutcome,
    SyncSummary,
    check_rows,
    interrupted,
    read_changes,
    read_totals,
    root_cause,
)
from loyalty_sync.cli.terminal import console as make_console
from loyalty_sync.defs import dead_runs
from loyalty_sync.defs.failures import WAREHOUSE
from loyalty_sync.defs.jobs import FULL_TAG, TRIGGER_TAG, block_target, contiguous_blocks
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.defs.resources import CapillaryResource, WarehouseResource
from loyalty_sync.defs.resources.simulator import started_here, stop_simulator_if_unused
from loyalty_sync.instance import local_instance
from loyalty_sync.settings import home_dir, setting_problems
from loyalty_sync.sync.discovery import discover_programs
from loyalty_sync.sync.reasons import plain_reason, warehouse_problem
from loyalty_sync.waiting import Stopped
from loyalty_sync.warehouse import locks, tables
from loyalty_sync.warehouse.database import (
    DATABASE_URL_ENV,
    DatabaseConfigError,
    embedded_pgdata,
    libpq_url,
    normalise_url,
)
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync.warehouse.scope import parse_partition_key, split_partition_keys
from loyalty_sync.warehouse.source import verify_source

# The run log on the terminal would interleave with the progress display and repeat what
# the summary says; `--debug` shows it.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
DEBUG_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class SyncError(RuntimeError):
    """The sync cannot start: unknown partition keys, no partitions at all."""


class WarehouseRefusedError(SyncError):
    """The warehouse refused what the sync must do (read-only, grants, disk) once runs had
    started: a person's to fix, so one line and exit 2, as before they start."""


class SyncStoppedError(RuntimeError):
    """A connection was lost once runs had started: the sync failed (exit 1), a rerun
    resumes."""


SIMULATOR_NOTICE = (
    "Capillary: the bundled simulator at {url} (CAPILLARY_BASE_URL unset): demo data, with "
    "tier anomalies and an all-8116 promotion planted on purpose, so some checks fail."
)


def source_line(endpoint: dict[str, Any]) -> str:
    """What the sync talks to, said first: a demo is never mistaken for real data."""
    if endpoint.get("capillary_simulator"):
        url = str(endpoint.get("capillary_endpoint", "")).removeprefix("bundled simulator at ")
        return SIMULATOR_NOTICE.format(url=url)
    return f"Capillary: {endpoint.get('capillary_endpoint', '')}"


def warehouse_line(url: str | None) -> str:
    """Where the rows go, in a form a person can use: psql's URL, or the embedded server's
    folder and the command that opens it."""
    if url is None:
        return (
            f"warehouse: the embedded PostgreSQL in {embedded_pgdata()} "
            "(`loyalty-sync db shell` opens it)"
        )
    return f"warehouse: {libpq_url(normalise_url(url), hide_password=True)}"


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


def _stop_on_warehouse_failure(result: Any) -> None:
    """A step failed because the warehouse refused it (`failures.WAREHOUSE`): stop here."""
    for event in result.all_events:
        data = event.event_specific_data if event.is_step_failure else None
        failed = getattr(data, "user_failure_data", None)
        kind = failed.metadata.get("kind") if failed else None
        if kind is not None and kind.value == WAREHOUSE:
            raise WarehouseRefusedError(failed.description)


def _partitions(
    instance: dg.DagsterInstance, listed: list[str], summary: SyncSummary
) -> tuple[list[str], list[str]]:
    """Add the newly listed partitions; return the instance's keys and the valid ones."""
    known = set(instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
    summary.new_partitions = [key for key in listed if key not in known]
    if summary.new_partitions:
        instance.add_dynamic_partitions(ORG_PROGRAM_PARTITIONS, summary.new_partitions)
    ordered = list(instance.get_dynamic_partitions(ORG_PROGRAM_PARTITIONS))
    valid, summary.invalid_partitions = split_partition_keys(ordered)
    return ordered, valid


def _checked_defs() -> dg.Definitions:
    """The definitions, once every setting is known to be valid; else every problem at once.

    A user who is told one missing variable per attempt needs as many attempts as there
    are mistakes: the settings the passes read, Capillary's and the database URL's are
    all checked before anything starts, and reported together, one line each.
    """
    problems = setting_problems()
    defs = None
    try:
        # Building the definitions reads the environment, and chooses (and starts) the
        # bundled simulator when no Capillary host is set.
        from loyalty_sync.definitions import build_defs

        defs = build_defs()
    except CapillaryConfigError as exc:
        problems += str(exc).splitlines()
    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    if configured:
        try:
            normalise_url(configured)
        except DatabaseConfigError as exc:
            problems.append(str(exc))
    if problems or defs is None:
        raise SyncError("\n".join(problems))
    return defs


@dataclass
class _Sync:
    """One `loyalty-sync sync`: what its steps share."""

    defs: dg.Definitions
    instance: dg.DagsterInstance
    say: Callable[[str], None]
    summary: SyncSummary
    engine: sa.Engine
    full: bool = False
    debug: bool = False

    @property
    def capillary(self) -> CapillaryResource:
        return self.defs.resources["capillary"]  # type: ignore[return-value]


def run_sync(
    partition_keys: list[str] | None = None,
    *,
    console: Console | None = None,
    show_progress: bool = True,
    debug: bool = False,
    full: bool = False,
) -> SyncSummary:
    started = time.monotonic()
    for key in partition_keys or []:
        parse_partition_key(key)
    # Notices print above the progress display (rich redirects stderr while it is live),
    # each as soon as it is known: a sync never sits on a blank screen.
    notices = console or make_console(stderr=True)
    # Wrapped at word boundaries on a terminal; whole lines in a pipe or a log, for grep.
    say = partial(notices.print, soft_wrap=not notices.is_terminal, highlight=False, markup=False)
    try:
        defs = _checked_defs()
        sync = _prepare(defs, say, full=full, debug=debug)
    except BaseException:
        # Building the definitions starts the bundled simulator if none runs.
        stop_simulator_if_unused()
        raise
    listed, ordered, valid = _discover(sync)
    selected = _selected(partition_keys or listed, valid)
    try:
        with progress_display(show_progress, console):
            for block in contiguous_blocks(selected, ordered):
                _run_block(sync, block)
        read_totals(sync.engine, [r.run_id for r in sync.summary.runs], sync.summary)
    except WarehouseRefusedError:
        raise
    except Exception as exc:
        translated = _after_start(exc)
        if translated is exc:
            raise
        raise translated from exc
    sync.summary.elapsed_seconds = time.monotonic() - started
    return sync.summary


def _prepare(
    defs: dg.Definitions,
    say: Callable[[str], None],
    *,
    full: bool,
    debug: bool,
) -> _Sync:
    """Say the source and the warehouse, refuse another source's, load a demo roster."""
    instance = local_instance()
    capillary: CapillaryResource = defs.resources["capillary"]  # type: ignore[assignment]
    warehouse: WarehouseResource = defs.resources["warehouse"]  # type: ignore[assignment]
    summary = SyncSummary(endpoint=capillary.describe())
    say(source_line(summary.endpoint))
    engine = warehouse.get_engine()
    summary.endpoint.update(warehouse.describe())
    say(warehouse_line(warehouse.url()))
    state = capillary.shared_simulator()
    if state:
        summary.simulator = {**state, "started": started_here(state)}
    # Before any call: a warehouse holding another source's data refuses this one.
    verify_source(engine, capillary.source(), embedded=warehouse.url() is None)
    for line in dead_runs.clean_up(instance, engine):
        say(line)
    summary.endpoint["roster_loaded"] = import_simulator_roster(capillary, engine)
    if summary.endpoint["roster_loaded"]:
        say(f"roster was empty: loaded {summary.endpoint['roster_loaded']} identifiers")
    return _Sync(defs, instance, say, summary, engine, full=full, debug=debug)


def _discover(sync: _Sync) -> tuple[list[str], list[str], list[str]]:
    """The partitions Capillary lists (added to the instance), all known ones, the valid."""
    capillary, summary, say = sync.capillary, sync.summary, sync.say
    client = capillary.get_client()
    say(f"connecting to Capillary at {capillary.resolved_settings().base_url}")
    before = client.stats.snapshot()
    listed = [p.key for p in discover_programs(client, capillary.org_id_list())]
    after = client.stats.snapshot()
    summary.discovery_calls = after["calls"] - before["calls"]
    summary.token_requests += after["token_requests"] - before["token_requests"]
    ordered, valid = _partitions(sync.instance, listed, summary)
    say(
        f"partitions: {len(listed)} listed by Capillary ({summary.discovery_calls} calls)"
        + (f", new: {', '.join(summary.new_partitions)}" if summary.new_partitions else "")
    )
    for key in summary.invalid_partitions:
        say(
            f"skipped partition {key!r}: not ORG-PROGRAM; remove it with "
            f"`loyalty-sync partitions remove {key}`"
        )
    return listed, ordered, valid


def _selected(selected: list[str], valid: list[str]) -> list[str]:
    unknown = [k for k in selected if k not in valid]
    if unknown:
        raise SyncError(
            f"unknown partition(s) {', '.join(unknown)}; known: {', '.join(valid) or 'none'} "
            "(`loyalty-sync partitions` lists them)"
        )
    if not selected:
        raise SyncError("no org/program partitions: /v2/organization/programs listed none")
    return selected


def _run_block(sync: _Sync, block: list[str]) -> None:
    """One run of the job over a contiguous block of partitions, added to the summary."""
    from loyalty_sync.defs.jobs import CAPILLARY_SYNC_JOB

    job = sync.defs.resolve_job_def(CAPILLARY_SYNC_JOB)
    partition_key, range_tags = block_target(block)
    full_tag = {FULL_TAG: "true"} if sync.full else {}
    # The whole run holds its partitions; waits are said and can be interrupted.
    with locks.hold(sync.engine, block, holder=f"sync pid {os.getpid()}", say=sync.say):
        dead_runs.wait_for_pool_slot(sync.instance, sync.say)
        result = job.execute_in_process(
            instance=sync.instance,
            partition_key=partition_key,
            tags={TRIGGER_TAG: "cli", **range_tags, **full_tag},
            run_config=DEBUG_LOGS if sync.debug else QUIET_LOGS,
            raise_on_error=False,
        )
    error = None if result.success else _run_error(result)
    read_changes(result, sync.summary)
    sync.summary.runs.append(
        RunOutcome(result.run_id, block, result.success, error, check_rows(result))
    )


def _run_error(result: Any) -> str:
    """Why a run failed, in one line; a stop or a refusing warehouse ends the sync here."""
    if interrupted(result):
        raise Stopped(f"stopped by SIGTERM or SIGINT during run {result.run_id[:8]}", "a signal")
    _stop_on_warehouse_failure(result)
    failures = [
        root_cause(e.event_specific_data.error)  # type: ignore[union-attr]
        for e in result.all_events
        if e.is_step_failure and e.event_specific_data is not None
    ]
    return "; ".join(dict.fromkeys(failures)) or "run failed"


def _after_start(exc: Exception) -> Exception:
    """What an error once runs had started means: the warehouse refused, or the sync stopped.

    A lost connection now is a failed run (exit 1), not settings; anything else is raised
    as it is.
    """
    refused = warehouse_problem(exc)
    if refused:
        return WarehouseRefusedError(refused)
    reason = plain_reason(exc)
    if reason is None:
        return exc
    return SyncStoppedError(f"the sync stopped: {reason}")
