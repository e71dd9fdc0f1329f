"""The capacity plan's arithmetic and advice, from given rates (no warehouse, no API).

`cli/test_plan.py` measures the rates from stored syncs; here they are given, so each
branch of the advice is reached on purpose.
"""

from __future__ import annotations

import pytest

from loyalty_sync.capillary.ratelimit import SAFETY_FACTOR
from loyalty_sync.sync.capacity import DAY_MINUTES, PassRates, Plan

# One promotionData call per customer; two pairs per customer, one call each.
RATES = {
    "promotions": PassRates(1.0, 0.0, 1.0, 3),
    "benefits": PassRates(2.0, 0.0, 1.0, 3),
}


def _plan(members: int, limit: int = 100, max_age: int = 10, rates=RATES, sample=0.0) -> Plan:
    return Plan(members, limit, max_age, sample, rates)


def test_daily_calls_are_lookups_then_each_pass_share_due() -> None:
    plan = _plan(1000, max_age=10)
    # 1000 lookups; a tenth of 1000 customers; a tenth of 2000 pairs.
    assert plan.daily_calls == pytest.approx(1000 + 100 + 200)
    assert plan.first_sync_calls == pytest.approx(1000 + 1000 + 2000)
    signalled = {**RATES, "benefits": PassRates(2.0, 0.05, 3.0, 3)}
    busier = _plan(1000, max_age=10, rates=signalled, sample=0.05)
    assert busier.daily_calls == pytest.approx(1000 + 1000 * 0.15 + 2000 * 0.2 * 3)


def test_a_pass_share_due_is_at_most_every_item() -> None:
    churning = {**RATES, "promotions": PassRates(1.0, 0.9, 1.0, 3)}
    assert _plan(100, max_age=2, rates=churning).daily_calls == pytest.approx(100 + 100 + 100)


def test_a_day_holds_the_paced_rate_for_24_hours() -> None:
    plan = _plan(10, limit=100)
    assert plan.calls_a_day == pytest.approx(100 * SAFETY_FACTOR * DAY_MINUTES)
    assert plan.hours(100 * SAFETY_FACTOR * 60) == pytest.approx(1.0)


def test_a_roster_that_fits_gets_no_advice() -> None:
    plan = _plan(1000)
    assert plan.fits
    assert plan.advice() == []


def test_a_long_first_sync_is_announced_even_when_the_daily_one_fits() -> None:
    plan = _plan(60_000, limit=100, max_age=30)
    assert plan.fits
    (line,) = plan.advice()
    assert line.startswith(f"the first sync takes {plan.hours(plan.first_sync_calls) / 24:.1f}")


def test_a_daily_sync_too_long_names_the_rate_and_a_max_age_that_fits() -> None:
    plan = _plan(100_000, limit=100, max_age=1)
    assert not plan.fits
    advice = plan.advice()
    needed = -(-plan.daily_calls // (SAFETY_FACTOR * DAY_MINUTES))
    assert f"raise the rate limit to at least {int(needed):,}/min" in advice[1]
    age = int(advice[2].rsplit(" to ", 1)[1].split()[0])
    assert _plan(100_000, limit=100, max_age=age).fits
    assert not _plan(100_000, limit=100, max_age=age - 1).fits


def test_lookups_beyond_the_day_ask_to_split_the_roster() -> None:
    plan = _plan(200_000, limit=100)
    advice = plan.advice()
    assert "the lookups alone (200,000 a day)" in advice[-1]
    assert not any("MAX_AGE" in line for line in advice)


def test_signalled_changes_alone_too_many_leave_no_max_age() -> None:
    churning = {name: PassRates(r.items_per_customer, 1.0, 1.0, 3) for name, r in RATES.items()}
    plan = _plan(40_000, limit=100, rates=churning)
    assert not plan.fits
    assert plan.advice()[-1] == "no max age fits: the signalled changes alone exceed the day"


def test_every_roster_entry_costs_a_lookup_found_or_not() -> None:
    plan = Plan(1000, 100, 10, 0.0, RATES, lookups_per_member=1.5)
    assert plan.daily_calls == pytest.approx(1500 + 100 + 200)
    assert plan.first_sync_calls == pytest.approx(1500 + 1000 + 2000)
    assert (
        "the lookups alone (300,000 a day)" in Plan(200_000, 100, 10, 0.0, RATES, 1.5).advice()[-1]
    )
