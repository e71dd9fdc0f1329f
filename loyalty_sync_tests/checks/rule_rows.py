"""Warehouse rows for the data-quality rule tests, consistent unless a test says otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from loyalty_sync.warehouse import tables

ORG = 51135
PROGRAM = 2568
NOW = datetime.now(UTC)
LATER = NOW + timedelta(days=200)
EARLIER = NOW - timedelta(days=20)


def detail(customer_id: int, program_id: int = PROGRAM, **values: Any) -> dict[str, Any]:
    """An enrolled customer in tier 2 of 4 with consistent balances; `values` override."""
    row: dict[str, Any] = {
        "org_id": ORG,
        "program_id": program_id,
        "customer_id": customer_id,
        "loyalty_id": 900_000 + customer_id,
        "current_slab": "Silver",
        "slab_sno": 2,
        "slab_expiry_date": LATER,
        "next_slab": "Gold",
        "next_slab_serial_number": 3,
        "loyalty_points": Decimal(100),
        "delayed_points": Decimal(0),
        "total_available_points": Decimal(100),
        "lifetime_points": Decimal(150),
        "synced_at": NOW,
        "run_id": "r1",
    }
    row.update(values)
    return row


def sync_run(
    run_id: str,
    program_id: int = PROGRAM,
    *,
    started_at: datetime = NOW,
    status: str = "success",
    rows: dict[str, int] | None = None,
    org_id: int = ORG,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "partition_key": f"{org_id}-{program_id}",
        "org_id": org_id,
        "program_id": program_id,
        "started_at": started_at,
        "finished_at": started_at + timedelta(minutes=5),
        "status": status,
        "rows": {"loyalty_program_details": 1} if rows is None else rows,
        "synced_at": started_at,
    }


def insert(engine: sa.Engine, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(table), rows)


def insert_details(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    insert(engine, tables.loyalty_program_details, rows)
