"""Runs that died: free what they held, say so, and wait for a pool slot without spinning.

`loyalty-sync sync` executes its runs in process on the local instance. A process killed
with SIGKILL leaves its run `STARTED` and its `capillary_api` pool slots claimed, and
Dagster frees neither (run monitoring covers launched runs only): every later step then
waits for a slot that never comes. Such a run is recognised by the pid its in-process
executor recorded (the "Executing steps in process" engine event): gone, or reused by a
process younger than the run, means dead. It is then marked failed, its slots are freed,
and its `sync_runs` rows are closed. Only a local (SQLite) instance is judged this way:
its runs ran on this machine, so their pids mean something here.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import sqlalchemy as sa
from dagster._core.storage.runs.sqlite import SqliteRunStorage

from loyalty_sync.defs.jobs import API_POOL
from loyalty_sync.deploy.launcher import process_alive, worker_pid
from loyalty_sync.sync import liveness
from loyalty_sync.waiting import wait_until
from loyalty_sync.warehouse import embedded_holders

UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def dead_runs(instance: dg.DagsterInstance) -> list[tuple[str, int]]:
    """(run id, pid) of unfinished runs of this machine whose process is gone."""
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return []
    dead = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED)):
        worker = worker_pid(instance, record.dagster_run.run_id)
        if worker is None:
            continue
        # The CLI's process may be older than the run (it runs one after another), so only
        # a process younger than the run is a reused pid.
        started = record.start_time if record.start_time is not None else float("inf")
        if not process_alive(worker[0], started, window=None):
            dead.append((record.dagster_run.run_id, worker[0]))
    return dead


def clean_up(instance: dg.DagsterInstance, engine: sa.Engine) -> list[str]:
    """Free what dead runs hold; one line per thing cleaned up."""
    lines, notes = [], embedded_holders.notes
    lines.extend(notes)
    notes.clear()
    for run_id, pid in dead_runs(instance):
        reason = f"its process (pid {pid}) is gone"
        run = instance.get_run_by_id(run_id)
        slots = len(
            [
                s
                for s in instance.event_log_storage.get_concurrency_info(API_POOL).claimed_slots
                if s.run_id == run_id
            ]
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        if run is not None:
            instance.report_run_failed(run, message=f"marked failed: {reason}")
        rows = liveness.abandon(engine, [run_id], reason)
        lines.append(
            f"run {run_id} died ({reason}): marked failed, freed {slots} {API_POOL} slot(s), "
            f"closed {rows} sync_runs row(s)"
        )
    lines.extend(close_ended_runs(instance, engine))
    return lines


def close_ended_runs(instance: dg.DagsterInstance, engine: sa.Engine) -> list[str]:
    """Close `sync_runs` rows left `running` by runs Dagster knows ended, or that went stale.

    Every pass calls this before it opens its own rows, so a production deployment (whose
    runs the daemon launches, and whose dead runs run monitoring fails) never keeps saying
    a partition is being synced by a run that is over.
    """
    lines, finished = [], []
    for run_id in liveness.running_run_ids(engine):
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            finished.append(run_id)
    if rows := liveness.abandon(engine, finished, "its run ended without closing it"):
        lines.append(f"closed {rows} sync_runs row(s) of {len(finished)} ended run(s)")
    if rows := liveness.abandon_stale(engine):
        lines.append(f"closed {rows} sync_runs row(s) with no progress for {liveness.STALE_AFTER}")
    return lines


def wait_for_pool_slot(instance: dg.DagsterInstance, say: Callable[[str], None]) -> None:
    """Wait (answering SIGINT/SIGTERM) until the pool has a free slot.

    Dagster's own wait for a slot inside a run polls without sleeping and holds signals
    back until it ends; waiting here first keeps that wait to the rare lost race.
    """
    storage = instance.event_log_storage

    def busy() -> str | None:
        info = storage.get_concurrency_info(API_POOL)
        if info.limit is None or len(info.claimed_slots) < info.limit:
            return None
        holders = ", ".join(sorted(info.active_run_ids))
        return f"a free {API_POOL} slot (all {info.limit} held by run {holders})"

    if storage.supports_global_concurrency_limits:
        wait_until(busy, say)
