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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import dagster as dg
import httpx
import sqlalchemy as sa
from rich.console import Console

from loyalty_sync.capillary.config import CapillaryConfigError
from loyalty_sync.cli.progress_display import progress_display
from loyalty_sync.cli.terminal import console as make_console
from loyalty_sync.defs import dead_runs
from loyalty_sync.defs.failures import WAREHOUSE
from loyalty_sync.defs.jobs import FULL_TAG, TRIGGER_TAG, block_target, contiguous_blocks
from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS
from loyalty_sync.defs.resources import CapillaryResource, WarehouseResource
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
CHANGES = ("inserted", "updated", "deleted", "unchanged")


class SyncError(RuntimeError):
    """The sync cannot start: unknown partition keys, no partitions at all."""


class WarehouseRefusedError(SyncError):
    """The warehouse refused what the sync must do (read-only, grants, disk) once runs had
    started: a person's to fix, so one line and exit 2, as before they start."""


class SyncStoppedError(RuntimeError):
    """A connection was lost once runs had started: the sync failed (exit 1), a rerun
    resumes."""


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
    # table -> {"inserted": n, "updated": n, "deleted": n, "unchanged": n}, this sync only
    changes: dict[str, Counter[str]] = field(default_factory=dict)
    calls: int = 0
    retries: int = 0
    warnings: Counter[str] = field(default_factory=Counter)
    new_partitions: list[str] = field(default_factory=list)
    invalid_partitions: list[str] = field(default_factory=list)
    endpoint: dict[str, Any] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    # the shared simulator's state when the source is the simulator; `started` by this sync
    simulator: dict[str, Any] | None = None
    # pass -> what its change signals did (change_signals.Signals.as_json), summed over orgs
    signals: dict[str, dict[str, Any]] = field(default_factory=dict)
    # calls before the runs (/v2/organization/programs), and each pass's calls in the runs
    discovery_calls: int = 0
    calls_by_pass: Counter[str] = field(default_factory=Counter)
    # OAuth token requests: they fetch no data and are not counted as calls
    token_requests: int = 0
    # what a guard held back (the drop guard, the negative guard): the rows stayed
    held_back: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        """Every run succeeded and no guard held answers back (exit code 0)."""
        return bool(self.runs) and all(r.success for r in self.runs) and not self.held_back


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


def _root_cause(error: Any) -> str:
    """The innermost error of a step failure: what went wrong, not where Dagster caught it."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = str(getattr(error, "message", error)).strip().splitlines()
    return " ".join(line.strip() for line in lines if line.strip())


def _stop_on_warehouse_failure(result: Any) -> None:
    """A step failed because the warehouse refused it (`failures.WAREHOUSE`): stop here."""
    for event in result.all_events:
        data = event.event_specific_data if event.is_step_failure else None
        failed = getattr(data, "user_failure_data", None)
        kind = failed.metadata.get("kind") if failed else None
        if kind is not None and kind.value == WAREHOUSE:
            raise WarehouseRefusedError(failed.description)


def _interrupted(result: Any) -> bool:
    """Whether a step of the run failed because the process was told to stop."""
    for event in result.all_events:
        if event.is_step_failure and event.event_specific_data is not None:
            error = event.event_specific_data.error  # type: ignore[union-attr]
            while error is not None:
                if getattr(error, "cls_name", None) == "DagsterExecutionInterruptedError":
                    return True
                error = getattr(error, "cause", None)
    return False


def _check_rows(result: Any) -> list[dict[str, Any]]:
    return [
        {
            "asset": evaluation.asset_key.to_user_string(),
            "check": evaluation.check_name,
            "partition": evaluation.partition,
            "passed": evaluation.passed,
            "severity": evaluation.severity.value,
            "description": next(iter((evaluation.description or "").splitlines()), ""),
        }
        for evaluation in result.get_asset_check_evaluations()
    ]


def _changes(result: Any, summary: SyncSummary) -> None:
    """This run's inserted/updated/deleted/unchanged rows per table, from its metadata.

    Every partition's materialisation carries the run-wide `run_rows_*` counts: one per
    asset is read.
    """
    seen: set[str] = set()
    passes: set[str] = set()
    tokens = 0
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        name = materialization.asset_key.to_user_string()
        metadata = materialization.metadata
        if "deletes_held_back" in metadata:
            for line in metadata["deletes_held_back"].value or []:  # type: ignore[union-attr]
                if line not in summary.held_back:
                    summary.held_back.append(str(line))
        if name in seen or "run_rows_inserted" not in metadata:
            continue
        seen.add(name)
        pass_name = str(getattr(metadata.get("pass"), "value", ""))
        if pass_name and pass_name not in passes:
            passes.add(pass_name)
            summary.calls_by_pass[pass_name] += int(metadata["run_api_calls"].value)  # type: ignore[arg-type]
        if "run_api_token_requests" in metadata:
            tokens = max(tokens, int(metadata["run_api_token_requests"].value))  # type: ignore[arg-type]
        counts = summary.changes.setdefault(name, Counter())
        for kind in CHANGES:
            counts[kind] += int(metadata[f"run_rows_{kind}"].value)  # type: ignore[arg-type]
    summary.token_requests += tokens


def _totals(engine: sa.Engine, run_ids: list[str], summary: SyncSummary) -> None:
    t = tables.sync_runs
    events = tables.api_events
    with engine.connect() as conn:
        by_org: dict[tuple[str, int], dict[str, Any]] = {}
        summary.calls = summary.discovery_calls
        for row in conn.execute(sa.select(t).where(t.c.run_id.in_(run_ids))):
            summary.calls += row.api_calls or 0
            summary.retries += row.retries or 0
            # A pass's signals are the org's: every partition of the org carries the same.
            by_org.setdefault((row.run_id, row.org_id), dict(row.signals or {}))
        for passes in by_org.values():
            for name, figures in passes.items():
                _add_signals(summary.signals.setdefault(name, {}), figures)
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


def _add_signals(total: dict[str, Any], figures: dict[str, Any]) -> None:
    for key, value in figures.items():
        if isinstance(value, dict):
            counts = total.setdefault(key, Counter())
            counts.update(value)
        else:
            total[key] = total.get(key, 0) + int(value)


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


def _shared_simulator_pid() -> int | None:
    """The pid the home's shared-simulator file names, before anything starts one."""
    import json

    try:
        return json.loads((home_dir() / "simulator.json").read_text()).get("pid")
    except (OSError, ValueError):
        return None


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
    # Before the definitions are built: building them starts the simulator if none runs.
    simulator_before = _shared_simulator_pid()
    defs = _checked_defs()
    # Notices print above the progress display (rich redirects stderr while it is live),
    # each as soon as it is known: a sync never sits on a blank screen.
    notices = console or make_console(stderr=True)
    # Wrapped at word boundaries on a terminal; whole lines in a pipe or a log, for grep.
    say = partial(notices.print, soft_wrap=not notices.is_terminal, highlight=False, markup=False)
    sync = _prepare(defs, say, simulator_before, full=full, debug=debug)
    listed, ordered, valid = _discover(sync)
    selected = _selected(partition_keys or listed, valid)
    try:
        with progress_display(show_progress, console):
            for block in contiguous_blocks(selected, ordered):
                _run_block(sync, block)
        _totals(sync.engine, [r.run_id for r in sync.summary.runs], sync.summary)
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
    simulator_before: int | None,
    *,
    full: bool,
    debug: bool,
) -> _Sync:
    """Say the source and the warehouse, refuse another source's, load a demo roster.

    `simulator_before` is the shared simulator's pid before the definitions were built
    (building them starts one if none runs), so the summary can say who started it.
    """
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
        summary.simulator = {**state, "started": simulator_before != state.get("pid")}
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
    _changes(result, sync.summary)
    sync.summary.runs.append(
        RunOutcome(result.run_id, block, result.success, error, _check_rows(result))
    )


def _run_error(result: Any) -> str:
    """Why a run failed, in one line; a stop or a refusing warehouse ends the sync here."""
    if _interrupted(result):
        raise Stopped(f"stopped by SIGTERM or SIGINT during run {result.run_id[:8]}", "a signal")
    _stop_on_warehouse_failure(result)
    failures = [
        _root_cause(e.event_specific_data.error)  # type: ignore[union-attr]
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
