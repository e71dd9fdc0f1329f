"""Loading benefit_points into a DataFrame through the warehouse I/O manager: rows/s, peak RSS.

Fills `benefit_points` with N rows over four partitions of one org (in SQL, shaped like
what the benefits pass writes, `raw` included), then loads all four partitions in a child
process through `WarehouseIOManager.load_input`, the call Dagster makes for a downstream
asset's input. The child times the load; its peak RSS (the whole process: Python, Dagster,
pandas and the frame) is sampled from outside. Targets: 100,000 rows/s or more, under
1 GiB.

    python -m benchmarks.io_manager_bench [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.harness import BenchDatabases, fresh_work_dir, measure_process

ORG = 51135
PROGRAMS = (2568, 2569, 2570, 2571)
KEYS = [f"{ORG}-{program}" for program in PROGRAMS]

FILL = sa.text(
    """
    INSERT INTO capillary.benefit_points
    SELECT :org, 2568 + i % 4, 100000000 + i, 1100000000 + i % 20,
           category, total, 1 + i % 7, issued,
           jsonb_build_object('pointsCategory', category, 'totalPointsIssued', total::text,
                              'numberOfTimesIssued', 1 + i % 7,
                              'lastIssuedOn', (extract(epoch FROM issued) * 1000)::bigint),
           now(), 'bench'
    FROM generate_series(0, :rows - 1) AS i,
         LATERAL (SELECT (ARRAY['REGULAR_POINTS', 'BONUS_POINTS'])[1 + i % 2] AS category,
                         ((i % 5000) * 10)::numeric(12, 3) AS total,
                         timestamptz '2026-06-12' + (i % 10000) * interval '17 minutes'
                           AS issued) AS v
    """
)


def fill(url: str, rows: int) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE capillary.benefit_points"))
            conn.execute(FILL, {"org": ORG, "rows": rows})
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE capillary.benefit_points"))
    finally:
        engine.dispose()


def load(url: str) -> dict[str, Any]:
    """In the measured child: load the four partitions as Dagster would, and time it."""
    import dagster as dg
    import psutil

    from loyalty_sync.defs.partitions import ORG_PROGRAM_PARTITIONS, org_program_partitions
    from loyalty_sync.defs.resources import WarehouseIOManager, WarehouseResource

    manager = WarehouseIOManager(warehouse=WarehouseResource(database_url=url))
    manager.warehouse.get_engine()  # connect and check migrations before the clock starts
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ORG_PROGRAM_PARTITIONS, KEYS)
        context = dg.build_input_context(
            asset_key=dg.AssetKey("benefit_points"),
            asset_partition_key_range=dg.PartitionKeyRange(KEYS[0], KEYS[-1]),
            asset_partitions_def=org_program_partitions,
            instance=instance,
        )
        rss_before = psutil.Process().memory_info().rss
        started = time.perf_counter()
        frame = manager.load_input(context)
        seconds = time.perf_counter() - started
    return {
        "rows": len(frame),
        "seconds": seconds,
        "rss_before_load_bytes": rss_before,
        "frame_bytes": int(frame.memory_usage(deep=True).sum()),
    }


def run(url: str, rows: int, work: Path) -> dict[str, Any]:
    """Fill, then measure the load in a child process; rows/s and peak RSS."""
    fill(url, rows)
    output = work / "io_manager_bench.out"
    measure = measure_process(
        [sys.executable, "-m", "benchmarks.io_manager_bench", "--load", url],
        os.environ,
        output,
    )
    loaded = json.loads(output.read_text().strip().splitlines()[-1])
    assert loaded["rows"] == rows, loaded
    return {
        **loaded,
        "rows_per_s": rows / loaded["seconds"],
        "peak_rss_bytes": measure.peak_rss_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        print(json.dumps(load(args.load)))
        return
    work = fresh_work_dir()
    os.environ["LOYALTY_SYNC_HOME"] = str(work / "home")
    url = BenchDatabases(work).fresh("bench_io_manager")
    result = run(url, args.rows, work)
    mib = 2**20
    print(f"rows loaded:       {result['rows']:>12,}")
    print(f"load time:         {result['seconds']:>12.2f} s")
    print(f"throughput:        {result['rows_per_s']:>12,.0f} rows/s   (target >= 100,000)")
    print(f"peak RSS (child):  {result['peak_rss_bytes'] / mib:>12,.0f} MiB (target < 1,024)")
    print(f"RSS before load:   {result['rss_before_load_bytes'] / mib:>12,.0f} MiB")
    print(f"frame (deep):      {result['frame_bytes'] / mib:>12,.0f} MiB")


if __name__ == "__main__":
    main()
