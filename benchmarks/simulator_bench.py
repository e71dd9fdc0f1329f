"""How fast the Capillary simulator starts and how many requests per second it serves.

1. Start time: `start_simulator` with 100,000 customers per org (two orgs), until the
   first customer lookup answers. Target: under 5 s.
2. Throughput at zero latency on loopback: client processes (separate from the server's,
   so the numbers are the server's, not GIL contention) send a sync-like mix of calls
   (customer lookup with programs, promotionData, v3 and v2 actionSummary, loyalty
   details) over keep-alive connections for a fixed time. Target: 1,000 requests/s.

The server's CPU time per request is reported too: it does not depend on what else the
machine is running, unlike requests/s.

Run: `python benchmarks/simulator_bench.py [--duration 10] [--clients 2] [--threads 4]`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import threading
import time
from typing import Any

import httpx
import psutil

from capillary_simulator import SimulatorConfig, SimulatorDataset, start_simulator

HOME_ORG = 51135


def measure_start(customers: int, repeats: int) -> list[float]:
    config = SimulatorConfig(customers_per_org=customers)
    dataset = SimulatorDataset(config)
    last = dataset.customer_by_index(HOME_ORG, customers - 1)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        with start_simulator(config) as sim:
            params = {"source": "INSTORE", "identifierName": "mobile", "embed": "mlp"}
            response = httpx.get(
                sim.base_url + "/v2/customers/lookup/customerDetails",
                params=params | {"identifierValue": last.mobile},
                headers=sim.auth_headers,
            )
            assert response.json()["id"] == last.customer_id
            timings.append(time.perf_counter() - started)
    return timings


def request_mix(config: SimulatorConfig, count: int = 400) -> list[tuple[str, dict[str, Any]]]:
    """Paths and params in roughly the proportions a sync sends them."""
    dataset = SimulatorDataset(config)
    calls: list[tuple[str, dict[str, Any]]] = []
    customers = dataset.customers(HOME_ORG)
    n = 0
    while len(calls) < count:
        customer = customers[(n * 7919) % len(customers)]
        n += 1
        by_mobile = {
            "source": "INSTORE",
            "identifierName": "mobile",
            "identifierValue": customer.mobile,
        }
        calls.append(("/v2/customers/lookup/customerDetails", by_mobile | {"embed": "mlp"}))
        calls.append(("/v2.1/customers/lookup/promotionData", by_mobile | {"limit": 100}))
        calls.append((f"/v2/customers/{customer.customer_id}/loyaltyDetails", {}))
        for promotion in dataset.held_promotions(HOME_ORG, customer.customer_id)[:3]:
            pair = {"programId": promotion.program_id, "promotionId": promotion.promotion_id}
            calls.append(
                (
                    f"/v3/customers/{customer.customer_id}/customerPromotionDetails/actionSummary",
                    pair,
                )
            )
            calls.append(
                ("/v2/customers/lookup/customerPromotionDetails/actionSummary", by_mobile | pair)
            )
    return calls[:count]  # fmt: skip


def _client_worker(
    base_url: str,
    headers: dict[str, str],
    calls: list[tuple[str, dict[str, Any]]],
    threads: int,
    duration: float,
    start_at: float,
    results: Any,
) -> None:
    counts = [0] * threads
    errors = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def run(slot: int) -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
            while time.time() < start_at:
                time.sleep(0.001)
            deadline = start_at + duration
            i = slot
            while time.time() < deadline:
                path, params = calls[i % len(calls)]
                i += threads
                sent = time.perf_counter()
                response = client.get(path, params=params)
                latencies[slot].append(time.perf_counter() - sent)
                if response.status_code >= 500:
                    errors[slot] += 1
                counts[slot] += 1

    workers = [threading.Thread(target=run, args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((sum(counts), sum(errors), [x for part in latencies for x in part]))


def measure_throughput(
    customers: int, clients: int, threads: int, duration: float
) -> dict[str, float]:
    config = SimulatorConfig(customers_per_org=customers, promotions_per_program=20)
    calls = request_mix(config)
    with start_simulator(config) as sim:
        server = psutil.Process(sim.pid)
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        start_at = time.time() + 2.0  # let every client process import and connect first
        processes = [
            context.Process(
                target=_client_worker,
                args=(sim.base_url, sim.auth_headers, calls, threads, duration, start_at, results),
            )
            for _ in range(clients)
        ]
        for process in processes:
            process.start()
        time.sleep(max(0.0, start_at - time.time()))
        cpu_before = sum(server.cpu_times()[:2])
        gathered = [results.get(timeout=duration + 60) for _ in processes]
        server_cpu = sum(server.cpu_times()[:2]) - cpu_before
        for process in processes:
            process.join()
        served = sim.counters()["total_requests"]
    total = sum(g[0] for g in gathered)
    latencies = sorted(x for g in gathered for x in g[2])
    return {
        "requests": total,
        "server_counted": served,
        "errors": sum(g[1] for g in gathered),
        "per_second": total / duration,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        # Server CPU per request: what one core could serve if clients cost nothing.
        "server_cpu_us": server_cpu / served * 1e6,
        "server_capacity": served / server_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000, help="customers per org")
    parser.add_argument("--repeats", type=int, default=3, help="start-time measurements")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="connections per client")
    args = parser.parse_args()

    starts = measure_start(args.customers, args.repeats)
    load = measure_throughput(args.customers, args.clients, args.threads, args.duration)

    print()
    print(f"{'measure':<44} {'value':>12}  target")
    print(f"{'-' * 44} {'-' * 12}  ------")
    print(
        f"{f'start, {args.customers:,} customers/org (median of {args.repeats})':<44} "
        f"{statistics.median(starts):>10.2f} s  < 5 s"
    )
    print(f"{'start, slowest':<44} {max(starts):>10.2f} s")
    label = f"throughput ({args.clients} procs x {args.threads} conns, {args.duration:.0f} s)"
    print(f"{label:<44} {load['per_second']:>8.0f} req/s  >= 1,000 req/s")
    print(f"{'latency p50 / p99':<44} {load['p50_ms']:>5.1f} / {load['p99_ms']:.1f} ms")
    cpu = f"{load['server_cpu_us']:.0f} us -> {load['server_capacity']:,.0f} req/s per core"
    print(f"{'server CPU per request':<44} {cpu}")
    counts = f"{load['requests']:.0f} / {load['server_counted']:.0f} / {load['errors']:.0f}"
    print(f"{'requests sent / counted by server / 5xx':<44} {counts}")


if __name__ == "__main__":
    main()
