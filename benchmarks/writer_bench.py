"""Bulk writer vs pandas `DataFrame.to_sql(method="multi", chunksize=1000)`, same table, one run.

Both write N rows shaped like `loyalty_program_details` into an empty table on the same
server. Prints rows/s for each and the ratio.

    python -m benchmarks.writer_bench [--rows 200000]
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa

from loyalty_sync.warehouse import migrate, tables, writer
from loyalty_sync.warehouse.database import get_engine


def make_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "org_id": 51135,
            "program_id": 2568 + (i % 4),
            "customer_id": 100_000_000 + i,
            "loyalty_id": 600_000_000 + i,
            "current_slab": "Gold",
            "slab_sno": 3,
            "next_slab": "Diamond",
            "next_slab_serial_number": 4,
            "loyalty_points": Decimal(i % 5000),
            "lifetime_points": Decimal(i % 9000),
            "total_available_points": Decimal(i % 5000),
            "raw": {"loyaltyId": 600_000_000 + i, "currentSlab": "Gold"},
        }
        for i in range(count)
    ]


def _reset(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE capillary.loyalty_program_details"))


def bench_writer(engine: sa.Engine, rows: list[dict[str, Any]]) -> float:
    _reset(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        result = writer.merge(conn, tables.loyalty_program_details, rows, run_id="bench")
    elapsed = time.perf_counter() - started
    assert result.inserted == len(rows)
    return elapsed


def bench_to_sql(engine: sa.Engine, rows: list[dict[str, Any]]) -> float:
    _reset(engine)
    frame = pd.DataFrame(
        [
            {**r, "raw": None, "synced_at": pd.Timestamp.now(tz="UTC"), "run_id": "bench"}
            for r in rows
        ]
    ).drop(columns=["raw"])
    started = time.perf_counter()
    frame.to_sql(
        "loyalty_program_details",
        engine,
        schema=tables.SCHEMA,
        if_exists="append",
        index=False,
        method="multi",
        chunksize=1000,
        dtype={c.name: c.type for c in tables.loyalty_program_details.columns if c.name in frame},
    )
    return time.perf_counter() - started


def run(count: int) -> dict[str, float]:
    engine = get_engine()
    migrate.ensure_upgraded(engine)
    rows = make_rows(count)
    writer_s = bench_writer(engine, rows)
    to_sql_s = bench_to_sql(engine, rows)
    _reset(engine)
    return {
        "rows": count,
        "writer_rows_per_s": count / writer_s,
        "to_sql_rows_per_s": count / to_sql_s,
        "ratio": to_sql_s / writer_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    result = run(args.rows)
    print(f"rows written:          {result['rows']:>10,}")
    print(f"bulk writer (COPY):    {result['writer_rows_per_s']:>10,.0f} rows/s")
    print(f"pandas to_sql(multi):  {result['to_sql_rows_per_s']:>10,.0f} rows/s")
    print(f"ratio:                 {result['ratio']:>10.1f}x")


if __name__ == "__main__":
    main()
