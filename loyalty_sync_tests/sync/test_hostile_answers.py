"""Wrong answers and hostile records never freeze, fail or empty a partition.

A rewriting proxy stands between `loyalty-sync sync` (a real process) and the simulator:
a warehouse is synced through it with good answers, then with hostile ones (a wrong
`Date`, records that cannot be parsed or stored, paging that never ends, "not found" for
everyone), then with good ones again, and compared with the clean sync of the same state.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa

from capillary_simulator.server import RunningSimulator
from loyalty_sync.warehouse import tables
from loyalty_sync_tests import synced_warehouse
from loyalty_sync_tests.factories import preset, serve_simulator
from loyalty_sync_tests.rewriting_proxy import Rewrite
from loyalty_sync_tests.sync.test_resilience import content
from loyalty_sync_tests.synced_warehouse import SYNC_COMMAND, Warehouse

# slow: syncs through the CLI as processes, behind a rewriting proxy
pytestmark = pytest.mark.slow

CONFIG = preset("one_partition")
# A partition under 10 rows: the drop guard does not judge it, the negative guard does.
SMALL = CONFIG.replace(seed=43, customers_per_org=6)
PROMOTION_DATA = "promotionData"
LOOKUP = "customerDetails"
ACTION_SUMMARY = "actionSummary"


def _events(warehouse: Warehouse, kind: str) -> list[sa.Row[Any]]:
    e = tables.api_events
    with warehouse.engine.connect() as conn:
        return list(conn.execute(sa.select(e).where(e.c.kind == kind).order_by(e.c.id)))


def _states(warehouse: Warehouse) -> list[sa.Row[Any]]:
    with warehouse.engine.connect() as conn:
        return list(conn.execute(sa.select(tables.sync_item_state)))


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    with serve_simulator(CONFIG) as running:
        yield running


@pytest.fixture
def warehouse(
    simulator: RunningSimulator, server_admin_url: str, template_url: str, tmp_path: Path
) -> Iterator[Warehouse]:
    yield from _warehouse(simulator, server_admin_url, tmp_path)


def _warehouse(
    simulator: RunningSimulator, server_admin_url: str, tmp_path: Path
) -> Iterator[Warehouse]:
    """A database with the simulator's roster, synced through a rewriting proxy."""
    with synced_warehouse.warehouse(server_admin_url, tmp_path, simulator, proxy=True) as made:
        yield made


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


def _by_customer(rewrites: dict[int, Rewrite]) -> Rewrite:
    """Each customer's answers rewritten their own way; the others' left alone."""

    def chosen(path: str, body: Any) -> Any:
        rewrite = rewrites.get(_customer_of(path) or -1)
        return rewrite(path, body) if rewrite else body

    return chosen


def _first_promotion(change: Callable[[dict[str, Any]], None]) -> Rewrite:
    def rewrite(path: str, body: Any) -> Any:
        if body.get("promotions"):
            change(body["promotions"][0])
        return body

    return rewrite


def _raw(make: Callable[[Any], bytes]) -> Rewrite:
    return lambda path, body: make(body)


def _repeating(path: str, body: Any) -> Any:
    """The same full page at every offset."""
    return _full_page(path, body, 800_000_000)


def _not_found(path: str, body: Any) -> Any:
    return {"errors": [{"code": 8015, "message": "Customer not found"}], "warnings": []}


def _no_benefits(path: str, body: Any) -> Any:
    for key in ("points", "alternateCurrencies", "incentives"):
        if key in body:
            body[key] = []
    body["warnings"] = [{"code": 8116, "message": "No benefits earned", "status": False}]
    return body


_TEMPLATES: dict[int | None, dict[str, Any]] = {}


def _full_page(path: str, body: Any, first_id: int) -> Any:
    """A full page of promotions from `first_id` on, shaped like the customer's first one."""
    customer = _customer_of(path)
    if body.get("promotions"):
        _TEMPLATES.setdefault(customer, body["promotions"][0])
    template = _TEMPLATES.get(customer)
    if template is None:
        return body
    body["promotions"] = [{**template, "promotionId": first_id + i} for i in range(100)]
    body.pop("pageDetails", None)
    return body


def _endless(path: str, body: Any) -> Any:
    """A full page of promotions never seen before, whatever the offset: paging never ends."""
    offset = int(parse_qs(urlparse(path).query).get("offset", ["0"])[0])
    return _full_page(path, body, 900_000_000 + offset)


def _holders(engine: sa.Engine, table: sa.Table = tables.customer_promotions) -> list[int]:
    cp = table
    with engine.connect() as conn:
        return list(conn.scalars(sa.select(cp.c.customer_id).distinct().order_by(cp.c.customer_id)))


def test_sigterm_stops_a_sync_paging_without_end_within_seconds(warehouse: Warehouse) -> None:
    good = warehouse.cli_sync()
    assert good.returncode == 0, good.stdout + good.stderr
    before = content(warehouse.engine)
    warehouse.proxy.rewrites[PROMOTION_DATA] = _endless
    with warehouse.engine.begin() as conn:  # every customer is due again
        conn.execute(sa.delete(tables.sync_item_state))
    process = subprocess.Popen(
        SYNC_COMMAND,
        env=warehouse.cli_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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


def _quarantined(w: Warehouse) -> set[tuple[int, int, int]]:
    return {
        (s.customer_id, s.program_id, s.promotion_id)
        for s in _states(w)
        if s.signature == "quarantined"
    }


def _future_states(w: Warehouse) -> int:
    state = tables.sync_item_state
    with w.engine.connect() as conn:
        return int(
            conn.scalar(
                sa.select(sa.func.count()).where(
                    sa.or_(state.c.fetched_at > sa.func.now(), state.c.checked_at > sa.func.now())
                )
            )
            or 0
        )


def test_hostile_records_are_quarantined_and_a_wrong_date_freezes_nothing(
    warehouse: Warehouse,
) -> None:
    good = warehouse.cli_sync()
    assert good.returncode == 0, good.stdout + good.stderr
    before = content(warehouse.engine)
    a, b, c, e, f = _holders(warehouse.engine)[:5]
    d = _holders(warehouse.engine, tables.benefit_points)[-1]  # one with benefits to keep
    proxy = warehouse.proxy
    proxy.headers["Date"] = "Fri, 01 Jan 2099 00:00:00 GMT"
    proxy.rewrites[PROMOTION_DATA] = _by_customer(
        {
            a: _first_promotion(lambda p: p.__setitem__("promotionId", "abc")),
            b: _first_promotion(lambda p: p.__setitem__("name", "x\x00y")),
            c: _raw(lambda body: b'{"a":' * 5000 + b"1" + b"}" * 5000),
            e: _endless,
            f: _repeating,
        }
    )
    proxy.rewrites[ACTION_SUMMARY] = _by_customer(
        {d: lambda path, body: {**body, "pointsTotal": float("inf")}}
    )
    hostile = warehouse.cli_sync("--full")
    assert hostile.returncode == 0, hostile.stdout + hostile.stderr
    assert content(warehouse.engine) == before, "a hostile record changed stored rows"
    events = _events(warehouse, "quarantined")
    by_customer = {(ev.endpoint, ev.customer_id): ev.message for ev in events}
    for customer, said in [
        (a, "promotionId"),
        (b, "NUL"),
        (c, "nested"),
        (e, "page cap"),
        (f, "repeats"),
    ]:
        assert said in by_customer[("promotion_data", customer)], by_customer
        assert "\n" not in by_customer[("promotion_data", customer)]
    assert any(ep == "action_summary_v3" and cust == d for ep, cust in by_customer), by_customer
    assert len(_events(warehouse, "warning")) >= 1
    assert any("2099" in (ev.message or "") for ev in _events(warehouse, "warning"))
    assert _future_states(warehouse) == 0, "a 2099 Date stamped state in the future"
    assert {q[0] for q in _quarantined(warehouse)} == {a, b, c, d, e, f}

    proxy.rewrites.clear()
    proxy.headers.clear()
    state = tables.sync_item_state
    with warehouse.engine.begin() as conn:  # as an older version, believing 2099, left it
        conn.execute(
            sa.update(state)
            .where(state.c.customer_id == _holders(warehouse.engine)[7])
            .values(fetched_at=sa.text("'2099-01-01'::timestamptz"))
        )
    mended = warehouse.cli_sync()
    assert mended.returncode == 0, mended.stdout + mended.stderr
    assert content(warehouse.engine) == before
    assert _quarantined(warehouse) == set(), "quarantined items were not fetched again"
    assert _future_states(warehouse) == 0, "a state in the future did not heal"

    # Every answer unusable: the API changed, not a record. The pass fails in one line.
    proxy.rewrites[PROMOTION_DATA] = _first_promotion(lambda p: p.__setitem__("promotionId", "abc"))
    systemic = warehouse.cli_sync("--full")
    assert systemic.returncode == 1, systemic.stdout + systemic.stderr
    assert "could not be used" in systemic.stdout, systemic.stdout
    assert content(warehouse.engine) == before
    proxy.rewrites.clear()
    again = warehouse.cli_sync()
    assert again.returncode == 0, again.stdout + again.stderr
    assert content(warehouse.engine) == before


@pytest.mark.parametrize(
    ("fragment", "rewrite", "args"),
    [
        pytest.param(LOOKUP, _not_found, (), id="8015 for every customer"),
        pytest.param(ACTION_SUMMARY, _no_benefits, ("--full",), id="8116 for every pair"),
    ],
)
def test_mass_negative_answers_hold_back_a_small_partition(
    server_admin_url: str,
    template_url: str,
    tmp_path: Path,
    fragment: str,
    rewrite: Rewrite,
    args: tuple[str, ...],
) -> None:
    with serve_simulator(SMALL) as small:
        for warehouse in _warehouse(small, server_admin_url, tmp_path):
            good = warehouse.cli_sync()
            assert good.returncode == 0, good.stdout + good.stderr
            before = content(warehouse.engine)
            assert before["benefit_points"], "the partition must have benefits to lose"
            warehouse.proxy.rewrites[fragment] = rewrite
            if fragment == LOOKUP:
                warehouse.proxy.rewrites[PROMOTION_DATA] = rewrite
            wrong = warehouse.cli_sync(*args)
            assert wrong.returncode == 1, wrong.stdout + wrong.stderr
            assert "held back" in wrong.stdout, wrong.stdout
            assert content(warehouse.engine) == before, "mass negatives changed stored rows"
            guard = [
                e for e in _events(warehouse, "warning") if "negative guard" in (e.message or "")
            ]
            assert guard, _events(warehouse, "warning")
            warehouse.proxy.rewrites.clear()
            mended = warehouse.cli_sync()
            assert mended.returncode == 0, mended.stdout + mended.stderr
            assert content(warehouse.engine) == before
