"""Client throughput against a slow API: does the rate limit, not latency, set the pace?

Makes N v3 actionSummary calls through `CapillaryResource` against a simulator that
answers after 100 ms and refuses more than the limit per minute (as Capillary does), with
the shared Postgres limiter configured at the same limit. Prints the achieved rate as a
share of the limit (target: at least 90 %) and the number of 429 answers (target: 0).

    python -m benchmarks.client_bench [--calls 3000] [--latency-ms 100] [--limit 6000]
        [--limiter postgres|memory] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

from capillary_simulator import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    SimulatorConfig,
    start_simulator,
)
from capillary_simulator.data import SimulatorDataset
from loyalty_sync.defs.resources import CapillaryResource, WarehouseResource
from loyalty_sync.warehouse import migrate
from loyalty_sync.warehouse.database import database_url, get_engine

CONFIG = SimulatorConfig(seed=3, orgs=1, programs_per_org=2, customers_per_org=200)


def held_pairs(dataset: SimulatorDataset, org_id: int) -> list[tuple[int, int, int]]:
    """(customer id, program id, promotion id) for every promotion a customer holds."""
    return [
        (customer.customer_id, promotion.program_id, promotion.promotion_id)
        for customer in dataset.customers(org_id)
        for promotion in dataset.held_promotions(org_id, customer.customer_id)
    ]


def run(
    calls: int, latency_ms: float, limit: int, limiter: str, concurrency: int
) -> dict[str, Any]:
    config = CONFIG.replace(latency_ms=latency_ms, rate_limit_per_minute=limit)
    dataset = SimulatorDataset(config)
    org_id = dataset.home_org_id
    pairs = list(itertools.islice(itertools.cycle(held_pairs(dataset, org_id)), calls))
    limiter_url = None
    if limiter == "postgres":
        limiter_url = database_url()
        migrate.ensure_upgraded(get_engine(limiter_url))
    with start_simulator(config) as sim:
        resource = CapillaryResource(
            base_url=sim.base_url,
            org_ids=str(org_id),
            username=DEMO_USERNAME,
            password=DEMO_PASSWORD,
            rate_limit_per_minute=limit,
            rate_limit_backend=limiter,
            warehouse=WarehouseResource(database_url=limiter_url),
            max_concurrency=concurrency,
        )
        client = resource.get_client()
        started = time.perf_counter()
        summaries = client.map(lambda p: client.action_summary_v3(org_id, *p), pairs)
        elapsed = time.perf_counter() - started
        stats = client.stats.snapshot()
        counters = sim.counters()
        resource.close()
    assert len(summaries) == calls
    rate_per_minute = calls / elapsed * 60
    return {
        "calls": calls,
        "seconds": elapsed,
        "rate_per_minute": rate_per_minute,
        "share_of_limit": rate_per_minute / limit,
        "throttled_429": counters["rate_limited"],
        "server_busiest_minute": counters["credentials"][DEMO_USERNAME]["max_requests_in_60s"],
        "client": stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--limit", type=int, default=6000, help="requests per minute")
    parser.add_argument("--limiter", choices=("postgres", "memory"), default="postgres")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    result = run(args.calls, args.latency_ms, args.limit, args.limiter, args.concurrency)
    latency = result["client"]["latency_ms"]
    print(f"actionSummary calls:     {result['calls']:>10,}")
    print(
        f"simulated latency:       {args.latency_ms:>10.0f} ms (client p50 {latency['p50_ms']} ms)"
    )
    print(f"limiter:                 {args.limiter:>10}")
    print(f"elapsed:                 {result['seconds']:>10.1f} s")
    print(f"achieved rate:           {result['rate_per_minute']:>10,.0f} /min")
    print(f"share of the limit:      {result['share_of_limit']:>10.1%}  (target >= 90 %)")
    print(f"429 answers:             {result['throttled_429']:>10}  (target 0)")
    print(f"busiest 60 s at server:  {result['server_busiest_minute']:>10,}")
    print(f"retries:                 {result['client']['retries']:>10}")


if __name__ == "__main__":
    main()
