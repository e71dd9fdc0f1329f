"""`promotion_performance` refreshed from its marks equals the report computed from scratch.

A simulator served in this process (its data set can be changed under it) is synced once,
then a day of churn, a new promotion and a promotion nobody holds any more are synced
again; the stored report must equal `performance_query` over every promotion. Hand
changes then show that a delete and an enrolment change mark exactly their promotions, and
that a promotion withdrawn leaves the report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from capillary_simulator.server import RunningSimulator
from loyalty_sync.reports.performance_refresh import refresh
from loyalty_sync.reports.promotion_performance import performance_query
from loyalty_sync.settings import MAX_AGE_ENV
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope
from loyalty_sync.warehouse.writer import WRITER_COLUMNS
from loyalty_sync_tests.factories import serve_simulator
from loyalty_sync_tests.simulated_clock import follow, local_clock_following
from loyalty_sync_tests.synced_warehouse import Warehouse, warehouse

pp = tables.promotion_performance
marks = tables.promotion_performance_changes
KEY = ("org_id", "program_id", "promotion_id")


@pytest.fixture
def synced(server_admin_url: str, template_url: str, tmp_path: Path) -> Iterator[Warehouse]:
    with (
        local_clock_following(),
        serve_simulator("change_driven", in_thread=True) as simulator,
    ):
        follow(simulator)
        with warehouse(server_admin_url, tmp_path, simulator) as made:
            assert made.sync().success
            yield made


def _everything(conn: sa.Connection) -> PartitionScope:
    p = tables.promotions
    return PartitionScope.of(conn.execute(sa.select(p.c.org_id, p.c.program_id).distinct()))


def _report(conn: sa.Connection) -> dict[tuple[Any, ...], dict[str, Any]]:
    columns = [c for c in pp.columns if c.name not in WRITER_COLUMNS]
    return {tuple(r[k] for k in KEY): r for r in conn.execute(sa.select(*columns)).mappings()}


def _from_scratch(conn: sa.Connection) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows = conn.execute(performance_query(_everything(conn))).mappings()
    return {tuple(r[k] for k in KEY): r for r in rows}


def _marked(conn: sa.Connection) -> set[tuple[int, int, int]]:
    return {tuple(r) for r in conn.execute(sa.select(*(marks.c[k] for k in KEY)))}  # type: ignore[misc]


def _least_held(conn: sa.Connection) -> tuple[int, int, int]:
    """The promotion with the fewest holders (at least one): losing them trips no guard."""
    row = conn.execute(
        sa.select(*(pp.c[k] for k in KEY))
        .where(pp.c.holders > 0)
        .order_by(pp.c.holders, *(pp.c[k] for k in KEY))
        .limit(1)
    ).one()
    return (int(row[0]), int(row[1]), int(row[2]))


def _nobody_holds(simulator: RunningSimulator, promotion_id: int, mp: pytest.MonkeyPatch) -> None:
    dataset: Any = simulator.dataset
    factory = dataset._promotion_factory
    holds = factory.holds
    mp.setattr(
        factory, "holds", lambda c, heavy, p: p.promotion_id != promotion_id and holds(c, heavy, p)
    )
    dataset._held_cached.cache_clear()


@pytest.mark.slow  # two syncs of a simulated day
def test_after_a_day_of_churn_the_refreshed_report_equals_one_computed_from_scratch(
    synced: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, simulator = synced.engine, synced.sim
    with engine.connect() as conn:
        assert _report(conn) == _from_scratch(conn) and not _marked(conn)
        before = set(_report(conn))
        emptied = _least_held(conn)
    _nobody_holds(simulator, emptied[2], monkeypatch)
    changes = simulator.advance(1, churn=0.3, new_promotions=1)["changes"]
    assert changes["new_promotion"]["count"] > 0 and changes["points_earned"]["count"] > 0
    follow(simulator)
    monkeypatch.setenv(MAX_AGE_ENV, "1")  # every item fetched: lost holdings show today
    assert synced.sync().success
    with engine.connect() as conn:
        report = _report(conn)
        assert report == _from_scratch(conn)
        assert not _marked(conn)
    assert set(report) - before, "the new promotion is reported"
    assert emptied not in report or report[emptied]["holders"] == 0


def test_a_deleted_benefit_and_an_enrolment_mark_their_promotions_only(
    synced: Warehouse,
) -> None:
    bp, cp, lpd = tables.benefit_points, tables.customer_promotions, tables.loyalty_program_details
    with synced.engine.begin() as conn:
        scope = _everything(conn)
        issued = (
            conn.execute(
                sa.select(bp).where(bp.c.total_points_issued > 0).order_by(*bp.primary_key).limit(1)
            )
            .mappings()
            .one()
        )
        conn.execute(sa.delete(bp).where(*(c == issued[c.name] for c in bp.primary_key)))
        assert _marked(conn) == {tuple(issued[k] for k in KEY)}
        enrolled = (
            conn.execute(
                sa.select(lpd).where(lpd.c.loyalty_id != -1).order_by(*lpd.primary_key).limit(1)
            )
            .mappings()
            .one()
        )
        mine = [lpd.c[k] == enrolled[k] for k in ("org_id", "program_id", "customer_id")]
        conn.execute(sa.update(lpd).where(*mine).values(loyalty_points=123456))
        assert len(_marked(conn)) == 1, "a points change counts for no promotion"
        conn.execute(sa.update(lpd).where(*mine).values(loyalty_id=-1))
        held = conn.execute(
            sa.select(cp.c.org_id, cp.c.program_id, cp.c.promotion_id).where(
                *(cp.c[k] == enrolled[k] for k in ("org_id", "program_id", "customer_id"))
            )
        )
        expected = {tuple(issued[k] for k in KEY), *(tuple(r) for r in held)}
        assert _marked(conn) == expected
        merged = refresh(conn, scope, run_id="hand")
        assert merged.staged == len(expected) and merged.updated >= 1
        assert _report(conn) == _from_scratch(conn) and not _marked(conn)
        # A promotion withdrawn from `promotions` leaves the report.
        p, dropped = tables.promotions, tuple(issued[k] for k in KEY)
        conn.execute(sa.delete(p).where(*(p.c[k] == v for k, v in zip(KEY, dropped, strict=True))))
        assert refresh(conn, scope, run_id="hand").deleted == 1
        report = _report(conn)
        assert dropped not in report and report == _from_scratch(conn)
