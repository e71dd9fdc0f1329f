"""The run ledger: everything a sync records about itself, in one place.

- `sync_runs`: one row per partition per run, opened with the passes the run means to
  make. Each pass adds its rows, calls and warnings to the rows of its partitions and
  ticks itself off; when the last expected pass is done the row is `success`. A failing
  pass, or a blocking check, closes it `failed` with the reason. Freshness is judged from
  rows that say how the sync ended, not from the absence of errors in logs.
- `api_events`: every warning and error code met, appended in the transaction of the
  chunk that met it, so a rolled-back chunk leaves no events for rows never written.
- `sync_checkpoints` and `sync_pending_deletes`: where each pass over an org's programs
  stands (its cursor, the items set aside, the rows it served so far) and the deletes it
  holds back until the whole pass has completed. A rerun after a kill or a failure
  resumes from there; see `Checkpoint`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from loyalty_sync.capillary.errors import CapillaryError
from loyalty_sync.capillary.stats import ApiCounts
from loyalty_sync.sync.freshness import Signals
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse import tables, writer
from loyalty_sync.warehouse.scope import PartitionScope, partition_key
from loyalty_sync.warehouse.writer import MergeResult

EVENT_FLUSH = 5_000


class SyncStatus(StrEnum):
    """How a partition's sync stands in `sync_runs`."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class PassState(StrEnum):
    """One pass of a run, in the `passes` column of `sync_runs`."""

    EXPECTED = "expected"
    DONE = "done"


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

    def __init__(
        self, conn: sa.Connection, scope: RunScope, occurred_at: datetime | None = None
    ) -> None:
        self.conn = conn
        self.scope = scope
        # When the answers came, by Capillary's clock; the run's start when not known.
        self.occurred_at = occurred_at or scope.started_at
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
            occurred_at=self.occurred_at,
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

    def mark(self) -> tuple[int, Counter[int], Counter[tuple[int, str | None, int]]]:
        """Where the log stands, to undo what a rolled-back savepoint added (`undo`)."""
        self.flush()
        return self.written, self.codes.copy(), self.placed.copy()

    def undo(self, mark: tuple[int, Counter[int], Counter[tuple[int, str | None, int]]]) -> None:
        self._buffer = []
        self.written, self.codes, self.placed = mark[0], mark[1].copy(), mark[2].copy()

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
    # Each org's calls, retries and 429s: what its progress bar shows, and what the
    # org's partitions share in sync_runs.
    spent_by_org: dict[int, ApiCounts] = field(default_factory=dict)
    api: dict[str, Any] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)
    set_aside: int = 0
    quarantined: int = 0  # items whose answers could not be used (see chunks.py)
    # What each org's change signals did (an org's customers are fetched once for all
    # of its programs, so the figures are the org's).
    signals_by_org: dict[int, Signals] = field(default_factory=dict)

    @property
    def signals(self) -> Signals:
        total = Signals()
        for figures in self.signals_by_org.values():
            total.add(figures)
        return total

    def org_signals(self, org_id: int) -> Signals:
        return self.signals_by_org.setdefault(org_id, Signals())

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


def open_runs(engine: sa.Engine, scope: RunScope, passes: Sequence[str]) -> None:
    """Open a `running` row per partition, naming the passes this run means to make.

    A retried step finds its rows already there and keeps them.
    """
    t = tables.sync_runs
    rows = [
        {
            "run_id": scope.run_id,
            "partition_key": key,
            "org_id": org,
            "program_id": program,
            "started_at": scope.started_at,
            "status": SyncStatus.RUNNING.value,
            "rows": {},
            "api_calls": 0,
            "retries": 0,
            "warnings": {},
            "passes": {name: PassState.EXPECTED.value for name in passes},
            "synced_at": scope.started_at,
        }
        for (org, program), key in zip(scope.partitions, scope.partition_keys, strict=True)
    ]
    stmt = sa.dialects.postgresql.insert(t).values(rows).on_conflict_do_nothing()
    with engine.begin() as conn:
        conn.execute(stmt)


def record_pass(
    engine: sa.Engine,
    scope: RunScope,
    name: str,
    outcome: PassOutcome,
    family: Sequence[str] = (),
) -> None:
    """Add a pass's rows, calls and codes to its partitions' rows and tick the pass off.

    An org's calls (one lookup serves every program of the org) are shared evenly among
    the org's partitions in the run, so the column sums to the calls made, and an org's
    partitions sum to what its progress bar showed. When this was the last pass the run
    expected, the partition's sync is a success.
    """
    t = tables.sync_runs
    with engine.begin() as conn:
        current = {
            row.partition_key: row
            for row in conn.execute(
                sa.select(t).where(t.c.run_id == scope.run_id).with_for_update()
            )
        }
        shares = org_shares(scope, outcome)
        for key in scope.partition_keys:
            row = current.get(key)
            if row is None:
                continue
            calls, retries = shares.get(key, (0, 0))
            # A table of the family that served nothing is recorded as 0, not left out.
            rows = {**dict(row.rows or {}), **dict.fromkeys(family, 0)}
            for (table, part), count in outcome.rows_by_partition.items():
                if part == key:
                    rows[table] = count
            warnings = Counter({int(k): v for k, v in (row.warnings or {}).items()})
            warnings.update(outcome.codes_for(row.org_id, key))
            passes = {**(row.passes or {}), name: PassState.DONE.value}
            finished = all(state == PassState.DONE.value for state in passes.values())
            values: dict[str, Any] = {
                "rows": rows,
                "api_calls": (row.api_calls or 0) + calls,
                "retries": (row.retries or 0) + retries,
                "warnings": {str(k): v for k, v in sorted(warnings.items())},
                "passes": passes,
                "signals": {
                    **(row.signals or {}),
                    name: outcome.org_signals(row.org_id).as_json(),
                },
                "synced_at": sa.func.now(),
            }
            if finished and row.status == SyncStatus.RUNNING.value:
                values |= {"status": SyncStatus.SUCCESS.value, "finished_at": sa.func.now()}
            conn.execute(
                sa.update(t)
                .where(t.c.run_id == scope.run_id, t.c.partition_key == key)
                .values(**values)
            )


def org_shares(scope: RunScope, outcome: PassOutcome) -> dict[str, tuple[int, int]]:
    """Partition key -> its share of its org's calls and retries in this pass.

    An org's calls are split evenly among its partitions of the run, the first ones taking
    the remainder: the figures of an org's partitions add up to the org's.
    """
    shares: dict[str, tuple[int, int]] = {}
    for org_id, spent in outcome.spent_by_org.items():
        pairs = zip(scope.partitions, scope.partition_keys, strict=True)
        keys = [key for (org, _), key in pairs if org == org_id]
        calls, calls_left = divmod(spent.calls, max(1, len(keys)))
        retries, retries_left = divmod(spent.retries, max(1, len(keys)))
        for index, key in enumerate(keys):
            shares[key] = (
                calls + (1 if index < calls_left else 0),
                retries + (1 if index < retries_left else 0),
            )
    return shares


def fail_runs(engine: sa.Engine, scope: RunScope, error: str) -> None:
    """Close the run's partitions as failed: a pass raised."""
    with engine.begin() as conn:
        _close_failed(conn, scope.run_id, scope.partitions, sa.literal(error))


def block(conn: sa.Connection, run_id: str, partitions: PartitionScope, reason: str) -> int:
    """Close a run's partitions as failed with `reason` added to their error.

    A blocking check that fails stops the run's later steps, so the passes that would have
    finished these rows never run; without this they would stay `running`.
    """
    t = tables.sync_runs
    c = tables.sync_checkpoints
    # Someone should look before this sync is carried on: its rerun starts afresh.
    for org_id in partitions.orgs:
        conn.execute(
            sa.update(c)
            .where(
                c.c.pass_name == SYNC_GENERATION,
                c.c.org_id == org_id,
                c.c.programs == _programs_text(partitions.for_org(org_id)),
            )
            .values(status=SyncStatus.FAILED.value, updated_at=sa.func.now())
        )
    return _close_failed(conn, run_id, partitions, sa.func.concat_ws("; ", t.c.error, reason))


def _close_failed(conn: sa.Connection, run_id: str, partitions: PartitionScope, error: Any) -> int:
    if not partitions:
        return 0
    t = tables.sync_runs
    result = conn.execute(
        sa.update(t)
        .where(t.c.run_id == run_id, partitions.where(t))
        .values(
            status=SyncStatus.FAILED.value,
            finished_at=sa.func.now(),
            error=error,
            synced_at=sa.func.now(),
        )
    )
    return int(result.rowcount or 0)


def as_metadata_counts(counter: Mapping[Any, int]) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(counter.items(), key=lambda kv: str(kv[0]))}


# --- checkpoints ---------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """Where one pass over one org's programs stands, carried from run to run.

    `cursor` is the sort key of the last item a committed chunk finished: a resumed pass
    asks for the items after it. `failed` are items set aside because their calls failed
    after every retry; the next run takes them first. `served` counts the rows the pass
    has served so far, per table and partition, across the runs that worked on it, so a
    resumed pass reports what the whole pass served, not what its last run did.
    """

    id: int
    pass_name: str
    partitions: PartitionScope
    resumed: bool
    cursor: list[Any] | None = None
    failed: list[list[Any]] = field(default_factory=list)
    served: Counter[tuple[str, str]] = field(default_factory=Counter)
    items_done: int = 0


def _programs_text(partitions: PartitionScope) -> str:
    return ",".join(str(program) for _, program in partitions)


def _locked_checkpoint_row(
    conn: sa.Connection, pass_name: str, partitions: PartitionScope, run_id: str
) -> tuple[sa.Row[Any], datetime]:
    """The checkpoint row of `pass_name` over `partitions`, created if new, locked for the
    transaction (two runs opening it at once take turns), and the database's now."""
    (org_id,) = partitions.orgs
    c = tables.sync_checkpoints
    key = {"pass_name": pass_name, "org_id": org_id, "programs": _programs_text(partitions)}
    now = conn.scalar(sa.select(sa.func.now()))
    conn.execute(
        sa.dialects.postgresql.insert(c)
        .values(**key, status="new", run_id=run_id, started_at=now, updated_at=now)
        .on_conflict_do_nothing(constraint="uq_sync_checkpoints_pass")
    )
    row = conn.execute(
        sa.select(c).where(*(c.c[k] == v for k, v in key.items())).with_for_update()
    ).one()
    return row, now


def open_checkpoint(
    engine: sa.Engine,
    pass_name: str,
    partitions: PartitionScope,
    run_id: str,
    max_age: timedelta,
) -> Checkpoint:
    """The pass's checkpoint: resumed when unfinished and touched within `max_age`.

    An older unfinished one (its data may have moved on too far to stitch together), a
    finished one or none at all starts the pass afresh, and drops deletes held back by an
    earlier generation of it.
    """
    c = tables.sync_checkpoints
    with engine.begin() as conn:
        row, now = _locked_checkpoint_row(conn, pass_name, partitions, run_id)
        fresh = row.updated_at is not None and row.updated_at >= now - max_age
        if row.status == SyncStatus.RUNNING.value and fresh:
            conn.execute(sa.update(c).where(c.c.id == row.id).values(run_id=run_id))
            return Checkpoint(
                row.id,
                pass_name,
                partitions,
                resumed=True,
                cursor=row.cursor,
                failed=list(row.failed or []),
                served=Counter(
                    {
                        (table, part): int(n)
                        for table, parts in (row.served or {}).items()
                        for part, n in parts.items()
                    }
                ),
                items_done=int(row.items_done or 0),
            )
        p = tables.sync_pending_deletes
        conn.execute(sa.delete(p).where(p.c.checkpoint_id == row.id))
        conn.execute(
            sa.update(c)
            .where(c.c.id == row.id)
            .values(
                status=SyncStatus.RUNNING.value,
                run_id=run_id,
                started_at=now,
                updated_at=now,
                cursor=None,
                failed=[],
                served={},
                items_done=0,
            )
        )
        return Checkpoint(row.id, pass_name, partitions, resumed=False)


def save_checkpoint(conn: sa.Connection, checkpoint: Checkpoint) -> None:
    """Store the checkpoint on the chunk's own transaction: rows and position commit together."""
    served: dict[str, dict[str, int]] = {}
    for (table, part), n in checkpoint.served.items():
        served.setdefault(table, {})[part] = n
    c = tables.sync_checkpoints
    conn.execute(
        sa.update(c)
        .where(c.c.id == checkpoint.id)
        .values(
            cursor=checkpoint.cursor,
            failed=checkpoint.failed,
            served=served,
            items_done=checkpoint.items_done,
            updated_at=sa.func.now(),
        )
    )


def complete_checkpoint(conn: sa.Connection, checkpoint: Checkpoint) -> None:
    """Mark the pass complete (next run starts afresh) and drop its held-back deletes."""
    p = tables.sync_pending_deletes
    conn.execute(sa.delete(p).where(p.c.checkpoint_id == checkpoint.id))
    c = tables.sync_checkpoints
    conn.execute(
        sa.update(c)
        .where(c.c.id == checkpoint.id)
        .values(status=SyncStatus.SUCCESS.value, updated_at=sa.func.now(), failed=[])
    )


# --- sync generations: which passes of an interrupted sync are already done ----------------

SYNC_GENERATION = "sync"


@dataclass
class Generation:
    """One sync of an org's programs, across the runs it takes to finish.

    A run that was killed or failed after some of its passes completed leaves its
    generation unfinished; a rerun within the resume window carries it on and skips the
    passes it already completed, so an interruption never costs a finished pass again.
    """

    id: int
    done: set[str]
    resumed: bool
    # The run that carried the generation before this one, and when it last moved it.
    previous_run: str | None = None
    previous_at: datetime | None = None

    def done_by(self, now: datetime) -> str:
        """Who finished a pass this run skips: another run (killed, failed, or still going)."""
        if self.previous_at is None:
            return f"done by run {self.previous_run}"
        minutes = max(0, round((now - self.previous_at).total_seconds() / 60))
        return f"done by run {self.previous_run} {minutes} min ago"


def open_generation(
    engine: sa.Engine,
    partitions: PartitionScope,
    run_id: str,
    passes: Sequence[str],
    max_age: timedelta,
    requested_at: datetime | None = None,
) -> Generation:
    """This run's generation of `partitions`: carried on, finished for it, or started.

    An unfinished generation touched within `max_age` is carried on (its done passes are
    skipped). A generation another run finished after this run was requested
    (`requested_at`) is as fresh as this run asked for: a run that waited behind it for
    the partitions skips what it did rather than fetching it again minutes later. A
    `--full` run passes no `requested_at`, so it always fetches.
    """
    c = tables.sync_checkpoints
    with engine.begin() as conn:
        row, now = _locked_checkpoint_row(conn, SYNC_GENERATION, partitions, run_id)
        fresh = row.updated_at is not None and row.updated_at >= now - max_age
        if row.status == SyncStatus.RUNNING.value and (fresh or row.run_id == run_id):
            done = set((row.cursor or {}).get("done", [])) & set(passes)
            resumed = row.run_id != run_id and bool(done)
            _carry_on(conn, row.id, run_id, now, passes, done)
            return Generation(row.id, done, resumed, row.run_id, row.updated_at)
        done = _finished_since(row, run_id, requested_at) & set(passes)
        if done >= set(passes):
            return Generation(row.id, done, True, row.run_id, row.updated_at)
        conn.execute(
            sa.update(c)
            .where(c.c.id == row.id)
            .values(
                status=SyncStatus.RUNNING.value,
                run_id=run_id,
                started_at=now,
                updated_at=now,
                cursor={"passes": list(passes), "done": sorted(done)},
            )
        )
        return Generation(row.id, done, bool(done), row.run_id, row.updated_at)


def _carry_on(
    conn: sa.Connection,
    generation_id: int,
    run_id: str,
    now: datetime,
    passes: Sequence[str],
    done: set[str],
) -> None:
    c = tables.sync_checkpoints
    conn.execute(
        sa.update(c)
        .where(c.c.id == generation_id)
        .values(
            run_id=run_id,
            updated_at=now,
            cursor={"passes": list(passes), "done": sorted(done)},
        )
    )


def _finished_since(row: sa.Row[Any], run_id: str, requested_at: datetime | None) -> set[str]:
    """The passes of a generation another run finished after `requested_at`, if it did."""
    if (
        requested_at is None
        or row.status != SyncStatus.SUCCESS.value
        or row.run_id == run_id
        or row.updated_at is None
        or row.updated_at < requested_at
    ):
        return set()
    return set((row.cursor or {}).get("done", []))


def generation_pass_done(engine: sa.Engine, generation: Generation, name: str) -> None:
    """Tick a pass off; the generation is finished once every pass it expects is done."""
    c = tables.sync_checkpoints
    with engine.begin() as conn:
        row = conn.execute(sa.select(c).where(c.c.id == generation.id).with_for_update()).one()
        state = dict(row.cursor or {})
        done = sorted({*state.get("done", []), name})
        finished = set(done) >= set(state.get("passes", []))
        conn.execute(
            sa.update(c)
            .where(c.c.id == generation.id)
            .values(
                cursor={**state, "done": done},
                updated_at=sa.func.now(),
                status=SyncStatus.SUCCESS.value if finished else row.status,
            )
        )
    generation.done.add(name)


def served_by(
    engine: sa.Engine, pass_name: str, partitions: PartitionScope
) -> Counter[tuple[str, str]]:
    """What a completed pass served, per table and partition (for a pass a rerun skips)."""
    (org_id,) = partitions.orgs
    c = tables.sync_checkpoints
    with engine.connect() as conn:
        served = conn.scalar(
            sa.select(c.c.served).where(
                c.c.pass_name == pass_name,
                c.c.org_id == org_id,
                c.c.programs == _programs_text(partitions),
            )
        )
    return Counter(
        {
            (table, part): int(n)
            for table, parts in (served or {}).items()
            for part, n in parts.items()
        }
    )
