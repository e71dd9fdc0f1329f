"""Why a change-driven pass fetches an item, or skips it: each signal on its own.

The reasons are SQL (`customer_reason`, `pair_reason`) over the warehouse's rows and the
items' stored state, so each case writes the few rows it needs into a fresh database and
reads the reason back; no simulator, no sync. Plans are dated in the past, so the
warehouse's clock never makes a state look as if it were stamped in the future.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from loyalty_sync.sync import change_signals
from loyalty_sync.sync.change_signals import Plan, Reason, SignalPolicy, Signals
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope

ORG, PROGRAM, PROMOTION, CUSTOMER = 100, 7, 900, 42
NOW = datetime(2024, 3, 10, 9, 0, tzinfo=UTC)
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)
QUIET = SignalPolicy(max_age_days=7, sample_share=0.0)


def _plan(now: datetime = NOW, freshness_: SignalPolicy = QUIET, **fields: Any) -> Plan:
    return Plan(freshness_, now, **fields)


def _stamped(synced_at: datetime = LONG_AGO, **key: int) -> dict[str, Any]:
    return {"org_id": ORG, "synced_at": synced_at, "run_id": "r", **key}


def _held(conn: sa.Connection, synced_at: datetime = LONG_AGO) -> None:
    """The customer, its program details and one promotion it holds, last changed long ago."""
    conn.execute(sa.insert(tables.customers).values(_stamped(customer_id=CUSTOMER)))
    details = _stamped(program_id=PROGRAM, customer_id=CUSTOMER)
    conn.execute(sa.insert(tables.loyalty_program_details).values(details))
    held = _stamped(
        synced_at,
        program_id=PROGRAM,
        customer_id=CUSTOMER,
        promotion_id=PROMOTION,
    )
    conn.execute(sa.insert(tables.customer_promotions).values(held))


def _fetched(
    conn: sa.Connection,
    pass_name: str,
    at: datetime,
    signature: str = "s",
    settings: str | None = None,
    checked_at: datetime | None = None,
) -> None:
    """The item's state: fetched `at` (checked then too, unless told)."""
    pair = {"program_id": PROGRAM, "promotion_id": PROMOTION} if pass_name == "benefits" else {}
    row = {
        "org_id": ORG,
        "pass_name": pass_name,
        "customer_id": CUSTOMER,
        "program_id": 0,
        "promotion_id": 0,
        **pair,
        "fetched_at": at,
        "checked_at": checked_at or at,
        "signature": signature,
        "settings": settings,
    }
    statement = sa.dialects.postgresql.insert(tables.sync_item_state).values(row)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(tables.sync_item_state.primary_key.columns.keys()),
            set_={k: statement.excluded[k] for k in ("fetched_at", "checked_at", "signature")},
        )
    )


def customer_reason(engine: sa.Engine, p: Plan) -> str:
    """Why promotionData of CUSTOMER is fetched, as the promotions pass asks it."""
    items = sa.values(sa.column("customer_id", sa.BigInteger), name="items").data([(CUSTOMER,)])
    state, on = change_signals.state_of(ORG, "promotions", items.c.customer_id)
    programs = PartitionScope.from_keys([f"{ORG}-{PROGRAM}"]).where(tables.loyalty_program_details)
    reason = change_signals.customer_reason(p, ORG, items.c.customer_id, programs, state)
    with engine.connect() as conn:
        return conn.scalar(sa.select(reason).select_from(items.outerjoin(state, on)))


def pair_reason(engine: sa.Engine, p: Plan) -> str:
    """Why actionSummary of (CUSTOMER, PROMOTION) is fetched, as the benefits pass asks it."""
    cp = tables.customer_promotions
    state, on = change_signals.state_of(
        ORG, "benefits", cp.c.customer_id, cp.c.program_id, cp.c.promotion_id
    )
    reason = change_signals.pair_reason(p, ORG, state)
    with engine.connect() as conn:
        return conn.scalar(sa.select(reason).select_from(cp.outerjoin(state, on)))


@pytest.fixture
def held(engine: sa.Engine) -> sa.Engine:
    with engine.begin() as conn:
        _held(conn)
    return engine


def _fetch_both(engine: sa.Engine, at: datetime, **state: Any) -> None:
    with engine.begin() as conn:
        _fetched(conn, "promotions", at, **state)
        _fetched(conn, "benefits", at, **state)


YESTERDAY = NOW - timedelta(days=1)


def test_an_item_never_fetched_is_new_and_full_fetches_whatever_the_state(
    held: sa.Engine,
) -> None:
    assert customer_reason(held, _plan()) == Reason.NEW
    assert pair_reason(held, _plan()) == Reason.NEW
    _fetch_both(held, NOW - timedelta(hours=1))
    full = _plan(freshness_=SignalPolicy(full=True))
    assert customer_reason(held, full) == pair_reason(held, full) == Reason.FULL


def test_fetched_earlier_today_is_skipped_even_when_sampled_on_its_day(held: sa.Engine) -> None:
    _fetch_both(held, NOW - timedelta(hours=1))
    eager = _plan(freshness_=SignalPolicy(max_age_days=1, sample_share=1.0))
    assert customer_reason(held, eager) == pair_reason(held, eager) == Reason.FETCHED_TODAY
    assert Reason.FETCHED_TODAY.value in change_signals.SKIPPED


def test_no_signal_within_the_max_age_is_unchanged_and_skipped(held: sa.Engine) -> None:
    reasons = set()
    for days in range(1, 7):  # one of them may be the item's bucket day
        _fetch_both(held, NOW - timedelta(days=days))
        reasons.add(customer_reason(held, _plan()))
    assert Reason.UNCHANGED in reasons
    assert reasons <= {Reason.UNCHANGED, Reason.MAX_AGE}


@pytest.mark.parametrize(("share", "other_days"), [(0.0, Reason.UNCHANGED), (1.0, Reason.SAMPLE)])
def test_an_item_is_due_on_one_day_of_its_max_age_and_sampled_otherwise(
    held: sa.Engine, share: float, other_days: Reason
) -> None:
    """Fetched the day before each of seven days: its bucket makes it due on one of them."""
    every = SignalPolicy(max_age_days=7, sample_share=share)
    seen: dict[str, Counter[str]] = {"customer": Counter(), "pair": Counter()}
    for day in range(7):
        now = NOW + timedelta(days=day)
        _fetch_both(held, now - timedelta(days=1))
        seen["customer"][customer_reason(held, _plan(now, every))] += 1
        seen["pair"][pair_reason(held, _plan(now, every))] += 1
    for counts in seen.values():
        assert counts == Counter({Reason.MAX_AGE: 1, other_days: 6})


def test_anything_older_than_the_max_age_is_due_whatever_its_bucket(held: sa.Engine) -> None:
    for day in range(7):
        now = NOW + timedelta(days=day)
        _fetch_both(held, now - timedelta(days=8))
        assert customer_reason(held, _plan(now)) == Reason.MAX_AGE
        assert pair_reason(held, _plan(now)) == Reason.MAX_AGE


def test_changed_lookup_rows_since_the_last_check_are_a_signal(held: sa.Engine) -> None:
    _fetch_both(held, YESTERDAY - timedelta(days=1))
    assert customer_reason(held, _plan()) in {Reason.UNCHANGED, Reason.MAX_AGE}
    with held.begin() as conn:
        conn.execute(
            sa.update(tables.loyalty_program_details).values(
                synced_at=YESTERDAY - timedelta(hours=1)
            )
        )
    assert customer_reason(held, _plan()) == Reason.LOOKUP_CHANGED


def test_a_lookup_change_in_another_partition_is_no_signal(held: sa.Engine) -> None:
    _fetch_both(held, YESTERDAY - timedelta(days=1))
    with held.begin() as conn:
        details = _stamped(YESTERDAY, program_id=PROGRAM + 1, customer_id=CUSTOMER)
        conn.execute(sa.insert(tables.loyalty_program_details).values(details))
    assert customer_reason(held, _plan()) in {Reason.UNCHANGED, Reason.MAX_AGE}


def test_a_promotion_created_in_the_customers_program_since_the_fetch(held: sa.Engine) -> None:
    fetched = YESTERDAY - timedelta(days=1)
    _fetch_both(held, fetched)
    # Within the catalogue margin of the fetch: it may not have shown in that answer.
    recent = _plan(created={PROGRAM: fetched - timedelta(minutes=30)})
    assert customer_reason(held, recent) == Reason.NEW_PROMOTION
    older = _plan(created={PROGRAM: fetched - timedelta(hours=2)})
    assert customer_reason(held, older) in {Reason.UNCHANGED, Reason.MAX_AGE}
    elsewhere = _plan(created={PROGRAM + 1: YESTERDAY})
    assert customer_reason(held, elsewhere) in {Reason.UNCHANGED, Reason.MAX_AGE}


def test_a_held_promotion_modified_since_the_fetch_is_a_signal_for_both(held: sa.Engine) -> None:
    _fetch_both(held, YESTERDAY - timedelta(days=1))
    changed = _plan(modified={PROMOTION: YESTERDAY})
    assert customer_reason(held, changed) == pair_reason(held, changed)
    assert pair_reason(held, changed) == Reason.PROMOTION_CHANGED
    not_held = _plan(modified={PROMOTION + 1: YESTERDAY})
    assert pair_reason(held, not_held) in {Reason.UNCHANGED, Reason.MAX_AGE}


def test_a_pair_whose_promotion_data_changed_is_fetched(held: sa.Engine) -> None:
    _fetch_both(held, YESTERDAY - timedelta(days=1))
    with held.begin() as conn:
        conn.execute(sa.update(tables.customer_promotions).values(synced_at=YESTERDAY))
    assert pair_reason(held, _plan()) == Reason.USAGE_CHANGED


def test_a_quarantined_item_is_retried_and_keeps_its_dates(held: sa.Engine) -> None:
    fetched = NOW - timedelta(hours=1)
    _fetch_both(held, fetched)
    with held.begin() as conn:
        change_signals.quarantine(conn, ORG, "promotions", [(CUSTOMER, 0, 0)])
        change_signals.quarantine(conn, ORG, "benefits", [(CUSTOMER, PROGRAM, PROMOTION)])
        stamps = conn.execute(sa.select(tables.sync_item_state.c.fetched_at)).scalars().all()
    assert stamps == [fetched, fetched]
    assert customer_reason(held, _plan()) == pair_reason(held, _plan()) == Reason.RETRY


def test_a_new_quarantined_item_is_retried_not_new(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        _held(conn)
        change_signals.quarantine(conn, ORG, "promotions", [(CUSTOMER, 0, 0)])
    assert customer_reason(engine, _plan()) == Reason.RETRY


def test_a_state_stamped_in_the_future_is_fetched_anew(held: sa.Engine) -> None:
    _fetch_both(held, NOW + timedelta(days=2))
    assert customer_reason(held, _plan()) == pair_reason(held, _plan()) == Reason.FUTURE_STATE
    # Within the clock skew Capillary's clock may have: fetched today, not a wrong clock.
    _fetch_both(held, NOW + timedelta(minutes=4))
    assert customer_reason(held, _plan()) == Reason.FETCHED_TODAY


def test_items_fetched_under_other_settings_are_fetched_again(held: sa.Engine) -> None:
    _fetch_both(held, NOW - timedelta(hours=1), settings="actionSummary v2")
    v3 = _plan(settings="actionSummary v3")
    assert customer_reason(held, v3) == pair_reason(held, v3) == Reason.SETTINGS_CHANGED
    assert pair_reason(held, _plan(settings="actionSummary v2")) == Reason.FETCHED_TODAY
    # A pass with no settings of its own never refetches for them.
    assert pair_reason(held, _plan()) == Reason.FETCHED_TODAY


def test_state_recorded_before_settings_were_counts_as_these_settings(held: sa.Engine) -> None:
    _fetch_both(held, NOW - timedelta(hours=1), settings=None)
    assert pair_reason(held, _plan(settings="actionSummary v3")) == Reason.FETCHED_TODAY


def test_new_comes_before_every_other_signal(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        _held(conn, synced_at=YESTERDAY)
    busy = _plan(settings="v3", created={PROGRAM: YESTERDAY}, modified={PROMOTION: YESTERDAY})
    assert customer_reason(engine, busy) == pair_reason(engine, busy) == Reason.NEW


def _entry(program: int | None, promotion: int | None, created: Any, modified: Any) -> Any:
    meta = SimpleNamespace(created_on=created, last_modified_on=modified)
    return SimpleNamespace(program_id=program, promotion_id=promotion, metadata=meta)


def test_a_plan_keeps_the_newest_creation_per_program_and_only_recent_dates() -> None:
    old = NOW - timedelta(days=30)
    catalogue = [
        _entry(1, 10, NOW - timedelta(days=2), NOW - timedelta(days=1)),
        _entry(1, 11, NOW - timedelta(days=1), None),
        _entry(2, 12, old, old),
        _entry(None, 13, None, NOW - timedelta(hours=3)),
    ]
    p = change_signals.plan(QUIET, NOW, catalogue, settings="v2")
    assert p.created == {1: NOW - timedelta(days=1)}
    assert p.modified == {10: NOW - timedelta(days=1), 13: NOW - timedelta(hours=3)}
    assert (p.settings, p.now, p.today) == ("v2", NOW, datetime(2024, 3, 10, tzinfo=UTC))


def test_a_plans_day_is_the_utc_date_of_capillarys_clock() -> None:
    late = datetime(2024, 3, 10, 23, 30, tzinfo=UTC).astimezone(ZoneInfo("Asia/Kolkata"))
    assert _plan(late).today == datetime(2024, 3, 10, tzinfo=UTC)
    assert _plan(late).day == _plan(NOW).day == (NOW.date() - datetime(1970, 1, 1).date()).days


@pytest.mark.parametrize("settings", [{"max_age_days": 0}, {"sample_share": 1.5}])
def test_freshness_settings_out_of_range_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"max_age_days|sample_share"):
        SignalPolicy(**settings)


def test_record_never_stamps_later_than_the_warehouse_clock(held: sa.Engine) -> None:
    ahead = _plan(datetime.now(UTC) + timedelta(days=3), settings="v3")
    with held.begin() as conn:
        change_signals.record(
            conn, ORG, "benefits", ahead, [((CUSTOMER, PROGRAM, PROMOTION), "sig")]
        )
        row = conn.execute(sa.select(tables.sync_item_state)).one()
        now = conn.scalar(sa.select(sa.func.now()))
    assert row.fetched_at == row.checked_at == now
    assert (row.signature, row.settings) == ("sig", "v3")
    # The next day's plan sees it fetched yesterday, not in the future.
    assert pair_reason(held, _plan(now + timedelta(days=1))) != Reason.FUTURE_STATE


def test_a_signature_ignores_row_and_key_order_but_not_values() -> None:
    rows = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    same = [{"b": "y", "a": 2}, {"b": "x", "a": 1}]
    assert change_signals.signature(rows) == change_signals.signature(same)
    assert change_signals.signature(rows) != change_signals.signature([{"a": 1, "b": "x"}])


def test_signals_add_up_and_report_skips_by_reason() -> None:
    one = Signals(fetched=Counter(new=3), skipped_by_reason=Counter(unchanged=5), full_calls=8)
    two = Signals(fetched=Counter(new=1, sample=1), sampled=1, sampled_changed=1, full_calls=2)
    one.add(two)
    assert one.as_json() == {
        "items": 10,
        "fetched": {"new": 4, "sample": 1},
        "skipped": 5,
        "skipped_by_reason": {"unchanged": 5},
        "sampled": 1,
        "sampled_changed": 1,
        "full_calls": 10,
    }
