"""One process of the shared-limit test: calls Capillary flat out until told to stop.

Run as `python -m loyalty_sync_tests.capillary.rate_limit_worker ...`. It prints `ready`
once its client and database connection are warm, reads the start time (epoch seconds)
from stdin, calls until `start + seconds`, then prints its counters as JSON with the
number of calls answered inside the window.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Iterator

from capillary_simulator import DEMO_PASSWORD, DEMO_USERNAME
from loyalty_sync.defs.resources import CapillaryResource, WarehouseResource
from loyalty_sync.warehouse.database import get_engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--org-id", type=int, required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    resource = CapillaryResource(
        base_url=args.base_url,
        org_ids=str(args.org_id),
        username=DEMO_USERNAME,
        password=DEMO_PASSWORD,
        rate_limit_per_minute=args.limit,
        warehouse=WarehouseResource(database_url=args.database_url),
        max_concurrency=args.concurrency,
    )
    client = resource.get_client()
    get_engine(args.database_url).connect().close()
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    time.sleep(max(0.0, start - time.time()))
    stop = time.monotonic() + args.seconds

    def until_stop() -> Iterator[int]:
        for n in itertools.count():
            if time.monotonic() >= stop:
                return
            yield n

    def call(_n: int) -> float | None:
        # Work queued ahead of the deadline is dropped rather than sent late.
        if time.monotonic() >= stop:
            return None
        client.programs(args.org_id)
        return time.monotonic()

    finished = [t for t in client.imap(call, until_stop()) if t is not None]
    report = {
        **client.stats.snapshot(),
        "answered_in_window": sum(1 for t in finished if t <= stop),
    }
    print(json.dumps(report), flush=True)
    resource.close()


if __name__ == "__main__":
    main()
