"""Wrong answers and hostile records never freeze, fail or empty a partition.

A rewriting proxy stands between `loyalty-sync sync` (a real process) and the simulator:
a warehouse is synced through it with good answers, then with hostile ones (a wrong
`Date`, records that cannot be parsed or stored, paging that never ends, "not found" for
everyone), then with good ones again, and compared with the clean sync of the same state.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa

from capillary_simulator import SimulatorConfig, start_simulator
from capillary_simulator.server import RunningSimulator
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.roster import import_roster
from loyalty_sync_tests.conftest import new_database
from loyalty_sync_tests.rewriting_proxy import Rewrite, RewritingProxy
from loyalty_sync_tests.sync.test_resilience import content

CONFIG = SimulatorConfig(
    seed=41,
    orgs=1,
    programs_per_org=1,
    customers_per_org=20,
    promotions_per_program=4,
    unknown_roster_rows=0,
)
COMMAND = [sys.executable, "-m", "loyalty_sync.cli", "sync", "--no-progress"]
PROMOTION_DATA = "promotionData"
LOOKUP = "customerDetails"
ACTION_SUMMARY = "actionSummary"


@dataclass
class Warehouse:
    """A database synced by the CLI through a proxy in front of the simulator."""

    engine: sa.Engine
    proxy: RewritingProxy
    env: dict[str, str]

    def sync(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            COMMAND, env=self.env, capture_output=True, text=True, timeout=600, check=False
        )

    def events(self, kind: str) -> list[sa.Row[Any]]:
        e = tables.api_events
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(e).where(e.c.kind == kind).order_by(e.c.id)))

    def states(self) -> list[sa.Row[Any]]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(tables.sync_item_state)))


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    with start_simulator(CONFIG) as running:
        yield running


@pytest.fixture
def warehouse(
    simulator: RunningSimulator, server_admin_url: str, template_url: str, tmp_path: Path
) -> Iterator[Warehouse]:
    url = new_database(server_admin_url)
    engine = sa.create_engine(url)
    roster = tmp_path / "roster.csv"
    roster.write_text(simulator.roster_csv())
    import_roster(engine, roster)
    with RewritingProxy(simulator.base_url).running() as proxy:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CAPILLARY_")},
            **simulator.client_environment(),
            "CAPILLARY_BASE_URL": proxy.base_url,
            "CAPILLARY_RATE_LIMIT_PER_MINUTE": "600000",
            "LOYALTY_SYNC_DATABASE_URL": url,
            "DAGSTER_HOME": str(tmp_path / "dagster"),
        }
        yield Warehouse(engine, proxy, env)
    engine.dispose()


def _customer_of(path: str) -> int | None:
    """The customer a request is about: `identifierValue` (by id) or `/customers/{id}/`."""
    url = urlparse(path)
    value = parse_qs(url.query).get("identifierValue", [None])[0]
    if value is not None and value.isdigit():
        return int(value)
    parts = url.path.split("/")
    if "customers" in parts:
        following = parts[parts.index("customers") + 1]
        if following.isdigit():
            return int(following)
    return None


def _for(customers: set[int], rewrite: Rewrite) -> Rewrite:
    """`rewrite` applied only to answers about `customers`."""

    def chosen(path: str, body: Any) -> Any:
        return rewrite(path, body) if _customer_of(path) in customers else body

    return chosen


def _endless(path: str, body: Any) -> Any:
    """A full page of promotions never seen before, whatever the offset: paging never ends."""
    offset = int(parse_qs(urlparse(path).query).get("offset", ["0"])[0])
    template = (body.get("promotions") or [None])[0]
    if template is None:
        return body
    body["promotions"] = [
        {**template, "promotionId": 900_000_000 + offset + i} for i in range(100)
    ]
    body.pop("pageDetails", None)
    return body


def _holders(engine: sa.Engine) -> list[int]:
    cp = tables.customer_promotions
    with engine.connect() as conn:
        return list(conn.scalars(sa.select(cp.c.customer_id).distinct().order_by(cp.c.customer_id)))


def test_sigterm_stops_a_sync_paging_without_end_within_seconds(warehouse: Warehouse) -> None:
    good = warehouse.sync()
    assert good.returncode == 0, good.stdout + good.stderr
    before = content(warehouse.engine)
    warehouse.proxy.rewrites[PROMOTION_DATA] = _endless
    with warehouse.engine.begin() as conn:  # every customer is due again
        conn.execute(sa.delete(tables.sync_item_state))
    process = subprocess.Popen(
        COMMAND, env=warehouse.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        while warehouse.proxy.served.get(PROMOTION_DATA, 0) < 30:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
    assert took < 10, f"{took:.1f} s after SIGTERM: {out}{err}"
    assert process.returncode == 130, out + err
    assert "stopped by SIGTERM" in err, err
    assert content(warehouse.engine) == before
