"""The 8116 rule on hand-made promotions and summaries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from loyalty_sync.checks.no_benefits import no_benefits_report
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope
from loyalty_sync_tests.checks.rule_rows import EARLIER, LATER, NOW, ORG, PROGRAM, insert

RUNNING = {"active": True, "start_date": EARLIER, "end_date": LATER}


def _promotion(promotion_id: int, **values: Any) -> dict[str, Any]:
    return {
        "org_id": ORG,
        "program_id": PROGRAM,
        "promotion_id": promotion_id,
        "promotion_name": f"Promotion {promotion_id}",
        "synced_at": NOW,
        "run_id": "r1",
        **values,
    }


def _summaries(promotion_id: int, total: int, no_benefits: int) -> list[dict[str, Any]]:
    return [
        {
            "org_id": ORG,
            "program_id": PROGRAM,
            "customer_id": 1000 + i,
            "promotion_id": promotion_id,
            "warning_code": 8116 if i < no_benefits else None,
            "warning_message": "No benefits earned" if i < no_benefits else None,
            "no_benefits": i < no_benefits,
            "synced_at": NOW,
            "run_id": "r1",
        }
        for i in range(total)
    ]


def _load(engine: sa.Engine) -> None:
    insert(
        engine,
        tables.promotions,
        [
            _promotion(1, **RUNNING),  # every holder 8116: misconfigured
            _promotion(2, **RUNNING),  # every holder 8116, but only two of them
            _promotion(3, active=False, start_date=NOW + timedelta(days=5), end_date=LATER),
            _promotion(4, **RUNNING),  # 11 of 20: above the threshold
            _promotion(5, active=False, start_date=EARLIER, end_date=NOW - timedelta(days=1)),
            _promotion(6, **RUNNING),  # healthy
        ],
    )
    insert(
        engine,
        tables.benefit_summaries,
        _summaries(1, 3, 3)
        + _summaries(2, 2, 2)
        + _summaries(3, 25, 25)  # not started: 8116 for everyone by nature
        + _summaries(4, 20, 11)
        + _summaries(5, 4, 4)  # ended: not active
        + _summaries(6, 30, 3),
    )


def _report(engine: sa.Engine, **options: Any) -> Any:
    with engine.connect() as conn:
        return no_benefits_report(conn, PartitionScope.org(ORG, [PROGRAM]), **options)


def test_shares_misconfigured_and_over_threshold_promotions(engine: sa.Engine) -> None:
    _load(engine)
    report = _report(engine)
    assert (report.summaries, report.no_benefits) == (84, 48)
    assert report.overall_over_threshold  # 57 %
    assert [p.promotion_id for p in report.misconfigured] == [1]
    assert [p.promotion_id for p in report.over_threshold] == [4]
    assert not report.passed
    shares = {p.promotion_id: (p.summaries, p.no_benefits) for p in report.promotions}
    assert shares == {1: (3, 3), 2: (2, 2), 3: (25, 25), 4: (20, 11), 5: (4, 4), 6: (30, 3)}
    # The sample names the 8116 summaries of the flagged promotions, and their customers.
    assert {(o.promotion_id, o.customer_id) for o in report.offenders} == {
        (1, 1000),
        (1, 1001),
        (1, 1002),
        *((4, 1000 + i) for i in range(11)),
    }
    assert report.offenders[0].values["warning_code"] == 8116
    assert report.offenders[0].values["promotion_name"] == "Promotion 1"


def test_thresholds_are_options(engine: sa.Engine) -> None:
    _load(engine)
    relaxed = _report(
        engine, max_share=0.6, min_summaries_per_promotion=21, min_customers_misconfigured=2
    )
    assert not relaxed.overall_over_threshold
    assert relaxed.over_threshold == []
    assert [p.promotion_id for p in relaxed.misconfigured] == [1, 2]
    strict = _report(engine, max_share=0.05, min_summaries_per_promotion=20)
    # Promotion 3 has not started: never judged on its own, whatever its share.
    assert [p.promotion_id for p in strict.over_threshold] == [4, 6]


def test_a_healthy_scope_passes(engine: sa.Engine) -> None:
    insert(engine, tables.promotions, [_promotion(6, **RUNNING)])
    insert(engine, tables.benefit_summaries, _summaries(6, 30, 3))
    report = _report(engine)
    assert report.passed
    assert report.offenders == []
    assert _report(engine, max_share=0.05).overall_over_threshold
    with engine.connect() as conn:
        assert no_benefits_report(conn, PartitionScope.org(ORG, [9999])).summaries == 0
