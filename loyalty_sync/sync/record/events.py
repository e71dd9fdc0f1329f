"""`api_events`: every warning and error code met, appended with the rows it concerns.

Events are buffered and appended on the transaction of the chunk that met them, so a
rolled-back chunk leaves no events for rows never written.

Clock: `occurred_at` is when the API answered, by Capillary's clock as the client
believes it (`SourceClock.now()`, the local clock when no believable `Date` came). A log
made for one chunk's answers is given that time; any other log stamps each event when
it is added (a guard's warning: when the guard judged), by the local clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from loyalty_sync.capillary import clock
from loyalty_sync.capillary.errors import CapillaryError
from loyalty_sync.sync.scope import RunScope
from loyalty_sync.warehouse import tables, writer
from loyalty_sync.warehouse.scope import partition_key

EVENT_FLUSH = 5_000

# (org, partition key or None for org-level events, code) -> count
PlacedCodes = Counter[tuple[int, str | None, int]]
LogMark = tuple[int, Counter[int], PlacedCodes]


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
    """Buffers api_events rows, counting their codes, and appends them in chunks."""

    def __init__(
        self,
        conn: sa.Connection,
        scope: RunScope,
        occurred_at: datetime | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.conn = conn
        self.scope = scope
        # When the answers came (`occurred_at`), else the time each event is added.
        self._fixed = occurred_at
        self._clock = now
        self.codes: Counter[int] = Counter()
        self.placed: PlacedCodes = Counter()
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
            occurred_at=self.now(),
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

    def now(self) -> datetime:
        """The time the next event is stamped with."""
        if self._fixed is not None:
            return self._fixed
        return self._clock() if self._clock is not None else clock.local_now()

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

    def mark(self) -> LogMark:
        """Where the log stands, to undo what a rolled-back savepoint added (`undo`)."""
        self.flush()
        return self.written, self.codes.copy(), self.placed.copy()

    def undo(self, mark: LogMark) -> None:
        self._buffer = []
        self.written, self.codes, self.placed = mark[0], mark[1].copy(), mark[2].copy()

    def flush(self) -> None:
        if self._buffer:
            self.written += writer.append(
                self.conn, tables.api_events, self._buffer, run_id=self.scope.run_id
            )
            self._buffer = []
