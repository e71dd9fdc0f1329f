"""The production run launcher: Dagster's default one, plus a health check run monitoring can use.

Dagster's `DefaultRunLauncher` starts each run in a process of the code server and cannot
say whether that process still lives, so run monitoring skips its runs: a run whose
worker died with its code server (a node lost, an OOM kill, SIGKILL) stays STARTED for
ever, holding its `capillary/api` tag slot and its `capillary_api` pool slot, and every
later run of the key waits QUEUED behind it. (A worker that dies while its code server
lives is already failed by the code server itself.)

This launcher answers run monitoring's question from two witnesses:

1. the code server the run was launched on, over gRPC: it knows every run it executes;
2. the worker process itself, when it is visible from here (the daemon on the same
   host or in the same pid namespace): identified by the pid its "Started process for
   run" event records *and* a start time matching that event's, so a reused pid, or a
   pid of another namespace, is never taken for the worker.

Either one saying "running" keeps the run. A code server that answers and does not know
the run, with no living worker to be seen, means the worker is gone: the run is failed,
which frees its slots, and run retries start it again from its checkpoint. A code server
that does not answer is given `unreachable_grace_seconds` (a restart takes seconds)
before its runs are judged lost.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import dagster as dg
import psutil
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.launcher.default_run_launcher import DefaultRunLauncher
from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
from dagster._serdes import deserialize_value
from dagster._serdes.config_class import ConfigurableClassData

# A worker logs its "Started process" event within this long of its process starting.
WORKER_START_WINDOW_SECONDS = 120.0
DEFAULT_UNREACHABLE_GRACE_SECONDS = 300


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, time of its event) of the first engine event of the run that names a pid."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        metadata = getattr(event.event_specific_data, "metadata", None) if event else None
        pid = (metadata or {}).get("pid")
        if pid is not None:
            return int(pid.value), record.timestamp
    return None


def process_alive(
    pid: int, started_by: float, window: float | None = WORKER_START_WINDOW_SECONDS
) -> bool:
    """Whether `pid` is a living process that started by `started_by` (and within `window`).

    A pid alone names a process only until it is reused: the start time is what makes it
    the same process.
    """
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = process.create_time()
        return created <= started_by + 1 and (window is None or created >= started_by - window)
    except psutil.Error:
        return False


class MonitoredRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` with a worker health check, so run monitoring fails dead runs."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        unreachable_grace_seconds: int = DEFAULT_UNREACHABLE_GRACE_SECONDS,
    ) -> None:
        super().__init__(inst_data=inst_data)
        self._grace = unreachable_grace_seconds
        self._unreachable_since: dict[str, float] = {}

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            "unreachable_grace_seconds": dg.Field(
                int,
                is_required=False,
                default_value=DEFAULT_UNREACHABLE_GRACE_SECONDS,
                description="How long a code server may not answer before its runs are "
                "judged lost.",
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> MonitoredRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        run_id = run.run_id
        worker = worker_pid(self._instance, run_id)
        if worker is not None and process_alive(*worker):
            self._unreachable_since.pop(run_id, None)
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker pid {worker[0]} is alive")
        try:
            known = self._code_server_runs_it(run_id)
        except Exception as exc:  # gRPC errors of every kind: the server did not answer
            first = self._unreachable_since.setdefault(run_id, time.time())
            waited = time.time() - first
            if waited < self._grace:
                return CheckRunHealthResult(
                    WorkerStatus.RUNNING, f"code server not answering for {waited:.0f}s"
                )
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                f"its code server has not answered for {waited:.0f}s "
                f"({type(exc).__name__}); the run is taken to be lost",
            )
        self._unreachable_since.pop(run_id, None)
        if known:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "its code server runs it")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            "its run worker is gone: the code server no longer runs it"
            + (f" and worker pid {worker[0]} is not alive" if worker else ""),
        )

    def _code_server_runs_it(self, run_id: str) -> bool:
        client = self._get_grpc_client_for_termination(run_id)
        if client is None:
            raise ConnectionError("the run names no code server")
        result = deserialize_value(
            client.can_cancel_execution(CanCancelExecutionRequest(run_id=run_id), timeout=10),
            CanCancelExecutionResult,
        )
        return result.can_cancel
