"""`loyalty-sync plan` from a warehouse's roster and the signals of its recent syncs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from loyalty_sync.cli.main import main
from loyalty_sync.sync.capacity import DEFAULT_RATES, measured_rates
from loyalty_sync.warehouse import tables

MEMBERS = 400


def _signals(new: int, changed: int) -> dict[str, dict[str, object]]:
    return {
        "promotions": {
            "items": MEMBERS,
            "fetched": {"new": new, "lookup_changed": changed, "max_age": 57},
            "full_calls": MEMBERS,
        },
        "benefits": {
            "items": 8 * MEMBERS,
            "fetched": {"new": 8 * new, "usage_changed": changed},
            "full_calls": 8 * MEMBERS,
        },
    }


def _fill(engine: sa.Engine) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(tables.customer_roster),
            [
                {
                    "org_id": 1,
                    "source": "INSTORE",
                    "identifier_name": "mobile",
                    "identifier_value": str(i),
                    "customer_id": i,
                    "synced_at": start,
                    "run_id": "r",
                }
                for i in range(MEMBERS)
            ],
        )
        for day in range(4):  # a first sync (all new), then three daily ones
            conn.execute(
                sa.insert(tables.sync_runs).values(
                    run_id=f"run-{day}",
                    partition_key="1-2",
                    org_id=1,
                    program_id=2,
                    started_at=start + timedelta(days=day),
                    status="success",
                    synced_at=start,
                    signals=_signals(MEMBERS if day == 0 else 4, 8),
                )
            )


def test_rates_come_from_the_daily_syncs_not_the_first(engine: sa.Engine) -> None:
    _fill(engine)
    with engine.connect() as conn:
        measured = measured_rates(conn)
    rates = measured.rates
    assert (measured.members, measured.roster_entries) == (MEMBERS, MEMBERS)
    assert rates["promotions"].syncs == 3
    assert rates["promotions"].shape_syncs == 4
    assert rates["promotions"].changed_share == pytest.approx((4 + 8) / MEMBERS)
    assert rates["benefits"].items_per_customer == 8
    assert rates["benefits"].changed_share == pytest.approx((32 + 8) / (8 * MEMBERS))


def test_after_only_a_first_sync_the_shape_is_measured_and_the_changes_default(
    engine: sa.Engine,
) -> None:
    _fill(engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(tables.sync_runs).where(tables.sync_runs.c.run_id != "run-0"))
        rates = measured_rates(conn).rates
    benefits = rates["benefits"]
    assert (benefits.items_per_customer, benefits.syncs, benefits.shape_syncs) == (8, 0, 1)
    assert benefits.changed_share == DEFAULT_RATES["benefits"].changed_share
    shown = CliRunner().invoke(main, ["plan"], catch_exceptions=False)
    assert "8.00 items a member" in shown.output
    assert "the changed share is a default until a daily sync" in shown.output


def test_with_no_sync_every_rate_is_a_default(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        measured = measured_rates(conn)
    assert (measured.members, measured.rates) == (0, DEFAULT_RATES)
    assert measured.plan(None, 100, 7, 0.01).lookups_per_member == 1.0


def test_identifiers_never_found_are_still_looked_up_every_day(engine: sa.Engine) -> None:
    _fill(engine)
    unfound = [
        {
            "org_id": 1,
            "source": "INSTORE",
            "identifier_name": "mobile",
            "identifier_value": f"gone-{i}",
            "lookup_status": "not_found",
            "synced_at": datetime(2026, 3, 1, tzinfo=UTC),
            "run_id": "r",
        }
        for i in range(MEMBERS // 4)
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(tables.customer_roster), unfound)
        measured = measured_rates(conn)
    plan = measured.plan(None, 100, 7, 0.0)
    assert (plan.members, plan.lookups) == (MEMBERS, MEMBERS * 1.25)
    # The same shape for a million members: a million and a quarter lookups.
    assert measured.plan(1_000_000, 100, 7, 0.0).lookups == 1_250_000
    shown = CliRunner().invoke(main, ["plan"], catch_exceptions=False)
    assert "1.25 roster entries a member (500 entries, 400 found)" in shown.output


def test_plan_says_what_to_change_when_a_day_is_not_enough(engine: sa.Engine) -> None:
    _fill(engine)
    fits = CliRunner().invoke(main, ["plan", "--rate-limit", "100"], catch_exceptions=False)
    assert fits.exit_code == 0, fits.output
    assert "fits in a day" in fits.output
    big = ["plan", "--members", "1000000", "--rate-limit", "1000"]
    short = CliRunner().invoke(main, big, catch_exceptions=False)
    assert short.exit_code == 1, short.output
    assert "does NOT fit" in short.output
    assert "raise the rate limit to at least" in short.output
    assert "LOYALTY_SYNC_MAX_AGE_DAYS" in short.output
    assert "carries on across days from its checkpoints" in short.output
