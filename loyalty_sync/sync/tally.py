"""What a pass did, and where it is recorded: api_events (per code met) and sync_runs.

`sync_runs` holds one row per partition per run. Each pass adds its rows, calls and
warnings to the row of every partition it covered; the last step of a run marks it
`success`, and a failing step marks it `failed` with the error, so freshness is judged
from rows that say how the sync ended, not from the absence of errors in logs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from loyalty_sync.capillary.errors import CapillaryError
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse import tables, writer
from loyalty_sync.warehouse.scope import partition_key
from loyalty_sync.warehouse.writer import MergeResult

EVENT_FLUSH = 5_000


def event_row(
    *,
    occurred_at: datetime,
    endpoint: str,
    code: int | None,
    kind: str,
    message: str | None,
    org_id: int,
    program_id: int | None = None,
    customer_id: int | None = None,
    promotion_id: int | None = None,
    http_status: int | None = None,
) -> dict[str, Any]:
    """One api_events row; its partition key follows from org and program (none: org-level)."""
    return {
        "occurred_at": occurred_at,
        "endpoint": endpoint,
        "http_status": http_status,
        "code": code,
        "kind": kind,
        "message": message,
        "org_id": org_id,
        "program_id": program_id,
        "customer_id": customer_id,
        "promotion_id": promotion_id,
        "partition_key": partition_key(org_id, program_id) if program_id is not None else None,
    }


class EventLog:
    """Buffers api_events rows and appends them on the pass's transaction in chunks."""

    def __init__(self, conn: sa.Connection, scope: RunScope) -> None:
        self.conn = conn
        self.scope = scope
        self.codes: Counter[int] = Counter()
        # (org, partition key or None for org-level events, code) -> count
        self.placed: Counter[tuple[int, str | None, int]] = Counter()
        self._buffer: list[dict[str, Any]] = []
        self.written = 0

    def add(
        self,
        *,
        endpoint: str,
        code: int | None,
        kind: str,
        message: str | None,
        org_id: int,
        program_id: int | None = None,
        customer_id: int | None = None,
        promotion_id: int | None = None,
        http_status: int | None = None,
    ) -> None:
        row = event_row(
            occurred_at=self.scope.started_at,
            endpoint=endpoint,
            code=code,
            kind=kind,
            message=message,
            org_id=org_id,
            program_id=program_id,
            customer_id=customer_id,
            promotion_id=promotion_id,
            http_status=http_status,
        )
        if code is not None:
            self.codes[code] += 1
            self.placed[(org_id, row["partition_key"], code)] += 1
        self._buffer.append(row)
        if len(self._buffer) >= EVENT_FLUSH:
            self.flush()

    def add_error(self, error: CapillaryError, *, org_id: int, **context: int | None) -> None:
        self.add(
            endpoint=error.endpoint or "",
            code=error.code,
            kind="error",
            message=error.message,
            org_id=org_id,
            http_status=error.http_status,
            **context,
        )

    def flush(self) -> None:
        if self._buffer:
            self.written += writer.append(
                self.conn, tables.api_events, self._buffer, run_id=self.scope.run_id
            )
            self._buffer = []


@dataclass
class PassOutcome:
    """Totals of one pass over a run scope, for asset metadata and sync_runs."""

    merges: dict[str, MergeResult] = field(default_factory=dict)
    rows_by_partition: Counter[tuple[str, str]] = field(default_factory=Counter)
    codes: Counter[int] = field(default_factory=Counter)
    placed_codes: Counter[tuple[int, str | None, int]] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    retries: int = 0
    api: dict[str, Any] = field(default_factory=dict)

    def add_events(self, events: EventLog) -> None:
        events.flush()
        self.codes.update(events.codes)
        self.placed_codes.update(events.placed)

    def codes_for(self, org_id: int, key: str) -> Counter[int]:
        """Codes met in partition `key`, plus the org-level ones (a customer not found)."""
        return Counter(
            {
                code: n
                for (org, placed, code), n in self.placed_codes.items()
                if placed == key or (placed is None and org == org_id)
            }
        )

    def add_merge(self, result: MergeResult) -> None:
        previous = self.merges.get(result.table)
        if previous is None:
            self.merges[result.table] = result
            return
        self.merges[result.table] = MergeResult(
            table=result.table,
            staged=previous.staged + result.staged,
            inserted=previous.inserted + result.inserted,
            updated=previous.updated + result.updated,
            deleted=previous.deleted + result.deleted,
        )


def start_runs(engine: sa.Engine, scope: RunScope) -> None:
    """Open a `running` row for each partition of the scope (kept if the step is retried)."""
    t = tables.sync_runs
    rows = [
        {
            "run_id": scope.run_id,
            "partition_key": key,
            "org_id": org,
            "program_id": program,
            "started_at": scope.started_at,
            "status": "running",
            "rows": {},
            "api_calls": 0,
            "retries": 0,
            "warnings": {},
            "synced_at": scope.started_at,
        }
        for org, programs in scope.org_programs.items()
        for program in programs
        for key in [partition_key(org, program)]
    ]
    stmt = sa.dialects.postgresql.insert(t).values(rows).on_conflict_do_nothing()
    with engine.begin() as conn:
        conn.execute(stmt)


def record_pass(engine: sa.Engine, scope: RunScope, outcome: PassOutcome) -> None:
    """Add a pass's rows, calls and warning codes to each partition's sync_runs row.

    Org-level calls (one lookup serves every program of an org) are shared evenly among the
    org's partitions in the run, so the column sums to the calls made.
    """
    t = tables.sync_runs
    with engine.begin() as conn:
        current = {
            row.partition_key: row
            for row in conn.execute(
                sa.select(t).where(t.c.run_id == scope.run_id).with_for_update()
            )
        }
        partitions = scope.partition_keys
        share, remainder = divmod(outcome.calls, max(1, len(partitions)))
        retry_share, retry_remainder = divmod(outcome.retries, max(1, len(partitions)))
        for index, key in enumerate(partitions):
            row = current.get(key)
            if row is None:
                continue
            rows = dict(row.rows or {})
            for (table, part), count in outcome.rows_by_partition.items():
                if part == key:
                    rows[table] = rows.get(table, 0) + count
            warnings = Counter({int(k): v for k, v in (row.warnings or {}).items()})
            warnings.update(outcome.codes_for(row.org_id, key))
            conn.execute(
                sa.update(t)
                .where(t.c.run_id == scope.run_id, t.c.partition_key == key)
                .values(
                    rows=rows,
                    api_calls=(row.api_calls or 0) + share + (1 if index < remainder else 0),
                    retries=(row.retries or 0)
                    + retry_share
                    + (1 if index < retry_remainder else 0),
                    warnings={str(k): v for k, v in sorted(warnings.items())},
                    synced_at=sa.func.now(),
                )
            )


def finish_runs(engine: sa.Engine, scope: RunScope, status: str, error: str | None = None) -> None:
    t = tables.sync_runs
    with engine.begin() as conn:
        conn.execute(
            sa.update(t)
            .where(t.c.run_id == scope.run_id, scope.partitions.where(t))
            .values(status=status, finished_at=sa.func.now(), error=error, synced_at=sa.func.now())
        )


def as_metadata_counts(counter: Mapping[Any, int]) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(counter.items(), key=lambda kv: str(kv[0]))}
