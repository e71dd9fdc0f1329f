"""What one `loyalty-sync sync` did, read back from its runs: the summary's figures.

Each figure is read where it was counted once: rows changed from the runs' materialisation
metadata, calls and signals from their `sync_runs` rows, warning codes from `api_events`.
The runner only collects; `summary.py` draws.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from loyalty_sync.warehouse import tables

CHANGES = ("inserted", "updated", "deleted", "unchanged")


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


def root_cause(error: Any) -> str:
    """The innermost error of a step failure: what went wrong, not where Dagster caught it."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    lines = str(getattr(error, "message", error)).strip().splitlines()
    return " ".join(line.strip() for line in lines if line.strip())


def interrupted(result: Any) -> bool:
    """Whether a step of the run failed because the process was told to stop."""
    for event in result.all_events:
        if event.is_step_failure and event.event_specific_data is not None:
            error = event.event_specific_data.error  # type: ignore[union-attr]
            while error is not None:
                if getattr(error, "cls_name", None) == "DagsterExecutionInterruptedError":
                    return True
                error = getattr(error, "cause", None)
    return False


def check_rows(result: Any) -> list[dict[str, Any]]:
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


def read_changes(result: Any, summary: SyncSummary) -> None:
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


def read_totals(engine: sa.Engine, run_ids: list[str], summary: SyncSummary) -> None:
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
