"""Tier rules on hand-made rows: each names its offenders and nothing else."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from loyalty_sync.capillary.models import LoyaltyProgramDetails
from loyalty_sync.checks.tier_anomalies import TIER_RULES, tier_findings
from loyalty_sync.sync import rows as to_rows
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope
from loyalty_sync_tests.capillary_simulator import reference_examples as examples
from loyalty_sync_tests.checks.rule_rows import (
    EARLIER,
    LATER,
    NOW,
    ORG,
    PROGRAM,
    detail,
    insert,
    insert_details,
    sync_run,
)

# loyaltyProgramDetails examples of the reference pages (lookup with embed=mlp, and
# loyaltyDetails): the top tier Diamond (nextSlabSerialNumber -1), and customers not
# enrolled (loyaltyId -1) who keep a tier but hold no points.
REFERENCE_EXAMPLES: list[dict[str, Any]] = [
    {
        "redeemed": 35474.0, "expired": 173299.0, "returned": 0.0, "adjusted": 0.0,
        "lifetimePoints": 304600.0, "loyaltyPoints": 95827.0, "cumulativePurchases": 221350.0,
        "loyaltyId": 651481881, "currentSlab": "Diamond", "currentSlabDescription": "Tier 8",
        "nextSlab": "", "nextSlabSerialNumber": -1, "nextSlabDescription": "", "slabSNo": 8,
        "slabExpiryDate": "2125-03-26T23:59:59Z", "programId": 973, "delayedPoints": 0.0,
        "delayedReturnedPoints": 0.0, "delayedExpiredPoints": 0.0,
        "totalAvailablePoints": 95827.0, "totalReturnedPoints": 0.0,
    },
    examples.LOOKUP["loyaltyProgramDetails"][0],  # Coral, not enrolled
    examples.LOYALTY_DETAILS["data"][0],  # Bronze
    {
        "redeemed": 0.0, "expired": 0.0, "returned": 0.0, "adjusted": 0.0,
        "lifetimePoints": 0.0, "loyaltyPoints": 0.0, "cumulativePurchases": 0.0,
        "loyaltyId": -1, "currentSlab": "Topaz", "nextSlab": "Coral",
        "nextSlabSerialNumber": 2, "nextSlabDescription": "Tier 2", "slabSNo": 1,
        "slabExpiryDate": "2125-02-28T23:59:59Z", "programId": 983, "delayedPoints": 0.0,
        "delayedReturnedPoints": 0.0, "totalAvailablePoints": 0.0, "totalReturnedPoints": 0.0,
    },
]  # fmt: skip


def _findings(engine: sa.Engine, pairs: list[tuple[int, int]], **options: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        return tier_findings(conn, PartitionScope.of(pairs), **options)


def _named(finding: Any) -> set[int]:
    return {o.customer_id for o in finding.offenders}


def test_reference_page_examples_are_not_anomalies(engine: sa.Engine) -> None:
    rows = []
    for customer_id, served in enumerate(REFERENCE_EXAMPLES, start=566881933):
        row = to_rows.program_detail_row(
            ORG, customer_id, LoyaltyProgramDetails.model_validate(served)
        )
        rows.append({**row, "synced_at": NOW, "run_id": "r1"})
    insert_details(engine, rows)
    insert(engine, tables.sync_runs, [sync_run("r1", 973), sync_run("r1", 983)])
    findings = _findings(engine, [(ORG, 973), (ORG, 983)])
    assert set(findings) == set(TIER_RULES)
    assert all(f.judged == 4 for f in findings.values())
    assert {name: _named(f) for name, f in findings.items() if not f.passed} == {}


def test_each_impossible_state_names_its_offenders(engine: sa.Engine) -> None:
    insert_details(
        engine,
        [
            detail(1),  # consistent
            detail(2, loyalty_points=Decimal(-5), total_available_points=Decimal(-5)),
            detail(3, total_available_points=Decimal(130)),
            detail(4, delayed_points=Decimal(30), total_available_points=Decimal(130)),
            detail(5, slab_sno=1, next_slab_serial_number=3),
            # -1 at the highest tier held is the top tier's answer...
            detail(6, slab_sno=4, next_slab_serial_number=-1, next_slab=""),
            # ...but not below a tier someone holds.
            detail(7, slab_sno=3, next_slab_serial_number=-1, next_slab=""),
            detail(8, loyalty_id=-1, loyalty_points=Decimal(0), total_available_points=Decimal(0)),
            detail(9, loyalty_id=-1),
            detail(10, lifetime_points=Decimal(99)),
        ],
    )
    insert(engine, tables.sync_runs, [sync_run("r1")])
    findings = _findings(engine, [(ORG, PROGRAM)])
    assert {name: _named(f) for name, f in findings.items()} == {
        "negative_balances": {2},
        "available_points_sum": {3},
        "next_slab_serial": {5, 7},
        "points_while_not_enrolled": {9},
        "lifetime_below_current": {10},
        "tier_kept_past_expiry": set(),
        "downgrade_before_expiry": set(),
    }
    sum_finding = findings["available_points_sum"]
    assert sum_finding.count == 1 and sum_finding.judged == 10 and sum_finding.share == 0.1
    assert sum_finding.by_partition == {f"{ORG}-{PROGRAM}": 1}
    assert sum_finding.offenders[0].values == {
        "total_available_points": Decimal(130),
        "loyalty_points": Decimal(100),
        "delayed_points": Decimal(0),
    }
    assert findings["next_slab_serial"].offenders[1].values["highest_tier_held_in_program"] == 4
    tolerant = _findings(engine, [(ORG, PROGRAM)], points_tolerance=Decimal(30))
    assert tolerant["available_points_sum"].passed


def test_tier_kept_past_expiry_is_judged_when_the_sync_looked(engine: sa.Engine) -> None:
    synced_at = NOW - timedelta(days=3)
    insert_details(
        engine,
        [
            detail(1, slab_expiry_date=synced_at - timedelta(days=5)),  # kept
            detail(2, slab_expiry_date=synced_at - timedelta(hours=2)),  # within the grace
            detail(3, slab_expiry_date=synced_at + timedelta(days=1)),  # expired since
            detail(4, slab_sno=1, next_slab_serial_number=2, slab_expiry_date=EARLIER),  # base
            detail(5, loyalty_id=-1, slab_expiry_date=EARLIER, **_no_points()),  # not enrolled
        ],
    )
    insert(
        engine,
        tables.sync_runs,
        [
            sync_run("old", started_at=synced_at - timedelta(days=30)),
            sync_run("r1", started_at=synced_at),
            sync_run("subset", started_at=NOW, rows={"promotions": 4}),  # no details synced
        ],
    )
    kept = _findings(engine, [(ORG, PROGRAM)])["tier_kept_past_expiry"]
    assert _named(kept) == {1}
    assert kept.offenders[0].values["seen_at"] == synced_at
    no_grace = _findings(engine, [(ORG, PROGRAM)], expiry_grace=timedelta(0))
    assert _named(no_grace["tier_kept_past_expiry"]) == {1, 2}


def _no_points() -> dict[str, Decimal]:
    zero = Decimal(0)
    return {"loyalty_points": zero, "total_available_points": zero, "lifetime_points": zero}


def _move(
    customer_id: int, run_id: str, sno: int, previous: int | None, expiry: Any
) -> dict[str, Any]:
    return {
        "org_id": ORG,
        "program_id": PROGRAM,
        "customer_id": customer_id,
        "valid_from": NOW if run_id == "r2" else NOW - timedelta(days=7),
        "slab_sno": sno,
        "previous_slab_sno": previous,
        "previous_slab_expiry_date": expiry,
        "synced_at": NOW,
        "run_id": run_id,
    }


def test_downgrade_before_expiry_in_the_judged_sync(engine: sa.Engine) -> None:
    insert_details(engine, [detail(c) for c in range(1, 7)])
    insert(
        engine,
        tables.sync_runs,
        [sync_run("r1", started_at=NOW - timedelta(days=7)), sync_run("r2", started_at=NOW)],
    )
    insert(
        engine,
        tables.tier_history,
        [
            _move(1, "r2", 1, 3, LATER),  # down before the old tier expired
            _move(2, "r2", 1, 3, EARLIER),  # down after it expired: the tier job at work
            _move(3, "r2", 3, 2, LATER),  # up
            _move(4, "r1", 1, 2, LATER),  # down, but seen by an earlier sync
            _move(5, "r2", 2, None, None),  # first sighting
        ],
    )
    finding = _findings(engine, [(ORG, PROGRAM)])["downgrade_before_expiry"]
    assert _named(finding) == {1}
    assert finding.offenders[0].values["previous_slab_sno"] == 3
    assert finding.offenders[0].values["slab_sno"] == 1


def test_only_the_given_programs_are_judged(engine: sa.Engine) -> None:
    insert_details(engine, [detail(1, lifetime_points=Decimal(1)), detail(2, program_id=2569)])
    insert(engine, tables.sync_runs, [sync_run("r1"), sync_run("r1", 2569)])
    assert _findings(engine, [(ORG, 2569)])["lifetime_below_current"].passed
    assert _findings(engine, [])["lifetime_below_current"].judged == 0
    assert _named(_findings(engine, [(ORG, PROGRAM)])["lifetime_below_current"]) == {1}
