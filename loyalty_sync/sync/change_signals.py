"""Change-driven syncs: which customers and pairs may have changed since they were fetched.

Capillary has no "changed since" endpoint, so a daily sync that fetched everything would
make the first sync's calls every day. The lookup (one call a customer) is the base; the
promotions and benefits passes ask only for what a signal (`Reason`) says may have
changed, cheapest first, and every item at least once per max age (a stable bucket per
customer, so a seventh of the items a day at 7, not all on day 7). What no cheap signal
sees waits for the max age; a daily sample of skipped items (`SignalPolicy.sample_share`)
measures it. The signals, what each is safe for and what it misses:
docs/design.md#change-signals-daily-syncs-that-fetch-only-what-may-have-changed.

Catalogue dates and fetch times must come from one clock, Capillary's (`capillary/clock.py`);
no state is stamped later than the warehouse's clock (`record`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from loyalty_sync.capillary.clock import CLOCK_SKEW_TOLERANCE
from loyalty_sync.warehouse import tables

# Catalogue times and fetch times come from one clock, but a promotion being created
# while a customer is fetched may not show in that answer: look an hour further back.
CATALOGUE_MARGIN = timedelta(hours=1)
SAMPLE_SCALE = 1_000_000
STATE = tables.sync_item_state
# The signature of an item whose last answer was quarantined (it could not be parsed or
# stored): its rows are as before, and the next sync fetches it again (`retry`).
QUARANTINED = "quarantined"
Item = tuple[int, int, int]  # (customer, program, promotion); 0s for a customer's item


class Reason(StrEnum):
    """Why an item is fetched, or (the last two) why it is skipped."""

    FULL = "full"
    NEW = "new"
    SETTINGS_CHANGED = "settings_changed"
    LOOKUP_CHANGED = "lookup_changed"
    NEW_PROMOTION = "new_promotion"
    PROMOTION_CHANGED = "promotion_changed"
    USAGE_CHANGED = "usage_changed"
    MAX_AGE = "max_age"
    SAMPLE = "sample"
    RETRY = "retry"  # set aside or quarantined by an earlier run
    FUTURE_STATE = "future_state"  # stamped in the future (a wrong clock of an older version)
    FETCHED_TODAY = "fetched_today"  # skipped: a sync fetched it earlier today
    UNCHANGED = "unchanged"  # skipped: no signal, and within its max age


SKIPPED = (Reason.FETCHED_TODAY.value, Reason.UNCHANGED.value)


@dataclass(frozen=True)
class SignalPolicy:
    """How a change-driven sync decides what to fetch; `full` fetches everything."""

    full: bool = False
    max_age_days: int = 7
    sample_share: float = 0.01

    def __post_init__(self) -> None:
        if self.max_age_days < 1:
            raise ValueError("max_age_days must be at least 1")
        if not 0.0 <= self.sample_share <= 1.0:
            raise ValueError("sample_share must be between 0 and 1")


@dataclass(frozen=True)
class Plan:
    """One pass's decision inputs, fixed when it starts: the same items on a resume."""

    policy: SignalPolicy
    now: datetime  # Capillary's clock when the pass started
    created: dict[int, datetime] = field(default_factory=dict)  # program -> newest createdOn
    modified: dict[int, datetime] = field(default_factory=dict)  # promotion -> lastModifiedOn
    # What shapes the pass's stored rows (e.g. "actionSummary v3"), recorded with each item;
    # None when nothing configurable does.
    settings: str | None = None

    @property
    def day(self) -> int:
        return (self.now.astimezone(UTC).date() - datetime(1970, 1, 1).date()).days

    @property
    def today(self) -> datetime:
        return datetime.combine(self.now.astimezone(UTC).date(), time(), UTC)


def plan(
    policy: SignalPolicy,
    now: datetime,
    catalogue: Iterable[Any] = (),
    settings: str | None = None,
) -> Plan:
    """The plan of a pass starting `now` under `settings`, from the org's catalogue entries.

    Only entries dated within the max age matter: anything fetched before that is due.
    """
    since = now - timedelta(days=policy.max_age_days + 1) - CATALOGUE_MARGIN
    created: dict[int, datetime] = {}
    modified: dict[int, datetime] = {}
    for entry in catalogue:
        meta = entry.metadata
        if entry.program_id is not None and meta.created_on and meta.created_on > since:
            newest = created.get(entry.program_id)
            created[entry.program_id] = max(meta.created_on, newest or meta.created_on)
        changed = meta.last_modified_on
        if entry.promotion_id is not None and changed is not None and changed > since:
            modified[entry.promotion_id] = changed
    return Plan(policy, now, created, modified, settings)


def _hash(*parts: Any) -> sa.ColumnElement[int]:
    """A stable 64-bit hash of the parts, in SQL (Postgres's own string hash)."""
    texts = [
        sa.cast(part, sa.Text) if isinstance(part, sa.ColumnElement) else sa.literal(str(part))
        for part in parts
    ]
    return sa.func.hashtextextended(sa.func.concat_ws(":", *texts), sa.literal(0, sa.BigInteger))


def _non_negative_mod(value: sa.ColumnElement[int], modulus: int) -> sa.ColumnElement[int]:
    return ((value % modulus) + modulus) % modulus


def _due_and_sample(
    p: Plan, org_id: int, customer: Any, item: list[Any], fetched: Any
) -> list[tuple[sa.ColumnElement[bool], Reason]]:
    age = p.policy.max_age_days
    bucket = _non_negative_mod(_hash(org_id, customer), age)
    before_today = fetched < p.today
    too_old = fetched < p.today - timedelta(days=age - 1)
    due = sa.and_(before_today, sa.or_(bucket == p.day % age, too_old))
    threshold = int(p.policy.sample_share * SAMPLE_SCALE)
    drawn = _non_negative_mod(_hash(p.day, org_id, *item), SAMPLE_SCALE) < threshold
    return [(due, Reason.MAX_AGE), (sa.and_(before_today, drawn), Reason.SAMPLE)]


def _settings_changed(p: Plan, state: sa.Table) -> list[tuple[sa.ColumnElement[bool], Reason]]:
    """Fetched under other settings: its stored rows may have another shape. An item with
    none recorded (fetched before they were) counts as fetched under these."""
    if p.settings is None:
        return []
    changed = sa.and_(state.c.settings.is_not(None), state.c.settings != p.settings)
    return [(changed, Reason.SETTINGS_CHANGED)]


def _retry_or_healed(p: Plan, state: sa.Table) -> list[tuple[sa.ColumnElement[bool], Reason]]:
    """An item quarantined last time is due; so is one whose state lies in the future.

    A state in the future (a wrong `Date` header believed by an older version) would
    otherwise be `fetched_today` until that day came; fetching it stamps it anew.
    """
    future = sa.or_(
        state.c.fetched_at > p.now + CLOCK_SKEW_TOLERANCE,
        state.c.checked_at > sa.func.now() + CLOCK_SKEW_TOLERANCE,
    )
    return [(state.c.signature == QUARANTINED, Reason.RETRY), (future, Reason.FUTURE_STATE)]


def _values(name: str, key: str, stamps: dict[int, datetime]) -> sa.Values:
    rows = sorted(stamps.items()) or [(-1, datetime(1970, 1, 1, tzinfo=UTC))]
    return sa.values(
        sa.column(key, sa.BigInteger), sa.column("stamp", sa.DateTime(timezone=True)), name=name
    ).data(rows)


def _case(
    p: Plan, whens: list[tuple[sa.ColumnElement[bool], Reason]], fetched: Any
) -> sa.ColumnElement[str]:
    if p.policy.full:
        return sa.literal(Reason.FULL.value)
    whens = [*whens, (fetched >= p.today, Reason.FETCHED_TODAY)]
    return sa.case(*((when, reason.value) for when, reason in whens), else_=Reason.UNCHANGED.value)


def customer_reason(
    p: Plan, org_id: int, customer: Any, programs: sa.ColumnElement[bool], state: sa.Table
) -> sa.ColumnElement[str]:
    """Why promotionData of `customer` is fetched; `state` is its joined state row."""
    c, lpd, cp = tables.customers, tables.loyalty_program_details, tables.customer_promotions
    mine = (lpd.c.org_id == org_id, lpd.c.customer_id == customer)
    lookup_changed = sa.or_(
        sa.exists().where(
            c.c.org_id == org_id, c.c.customer_id == customer, c.c.synced_at > state.c.checked_at
        ),
        sa.exists().where(*mine, programs, lpd.c.synced_at > state.c.checked_at),
    )
    since = state.c.fetched_at - CATALOGUE_MARGIN
    created = _values("created_since", "program_id", p.created)
    modified = _values("modified_since", "promotion_id", p.modified)
    new_promotion = sa.exists().where(
        *mine, programs, lpd.c.program_id == created.c.program_id, created.c.stamp > since
    )
    promotion_changed = sa.exists().where(
        cp.c.org_id == org_id,
        cp.c.customer_id == customer,
        cp.c.promotion_id == modified.c.promotion_id,
        modified.c.stamp > since,
    )
    return _case(
        p,
        [
            (state.c.customer_id.is_(None), Reason.NEW),
            *_settings_changed(p, state),
            *_retry_or_healed(p, state),
            (lookup_changed, Reason.LOOKUP_CHANGED),
            (new_promotion, Reason.NEW_PROMOTION),
            (promotion_changed, Reason.PROMOTION_CHANGED),
            *_due_and_sample(p, org_id, customer, [customer], state.c.fetched_at),
        ],
        state.c.fetched_at,
    )


def pair_reason(p: Plan, org_id: int, state: sa.Table) -> sa.ColumnElement[str]:
    """Why actionSummary of a customer_promotions pair is fetched."""
    cp = tables.customer_promotions
    modified = _values("modified_since", "promotion_id", p.modified)
    promotion_changed = sa.exists().where(
        cp.c.promotion_id == modified.c.promotion_id,
        modified.c.stamp > state.c.fetched_at - CATALOGUE_MARGIN,
    )
    pair = [cp.c.customer_id, cp.c.program_id, cp.c.promotion_id]
    return _case(
        p,
        [
            (state.c.customer_id.is_(None), Reason.NEW),
            *_settings_changed(p, state),
            *_retry_or_healed(p, state),
            (cp.c.synced_at > state.c.checked_at, Reason.USAGE_CHANGED),
            (promotion_changed, Reason.PROMOTION_CHANGED),
            *_due_and_sample(p, org_id, cp.c.customer_id, pair, state.c.fetched_at),
        ],
        state.c.fetched_at,
    )


def state_of(org_id: int, pass_name: str, customer: Any, program: Any = 0, promotion: Any = 0):
    """The state row of an item, to LEFT JOIN (aliased: a query may also read the table)."""
    s = STATE.alias(f"{pass_name}_state")
    on = sa.and_(
        s.c.org_id == org_id,
        s.c.pass_name == pass_name,
        s.c.customer_id == customer,
        s.c.program_id == program,
        s.c.promotion_id == promotion,
    )
    return s, on


def signature(rows: Iterable[dict[str, Any]]) -> str:
    """MD5 of mapped rows, order-free: equal answers give equal signatures."""
    encoded = sorted(json.dumps(row, sort_keys=True, default=str) for row in rows)
    return hashlib.md5("\n".join(encoded).encode(), usedforsecurity=False).hexdigest()


def record(
    conn: sa.Connection,
    org_id: int,
    pass_name: str,
    p: Plan,
    fetched: list[tuple[tuple[int, int, int], str]],
) -> None:
    """Note items fetched by this pass, with their answers' signatures.

    No state is stamped later than the warehouse's clock: whatever Capillary's clock said,
    an item fetched now was not fetched tomorrow.
    """
    if not fetched:
        return
    checked = conn.scalar(sa.select(sa.func.now()))  # the transaction's time, as synced_at's
    stamp = min(p.now, checked)
    rows = [
        _state_row(org_id, pass_name, item, stamp, checked, signature=sig, settings=p.settings)
        for item, sig in fetched
    ]
    statement = insert(STATE)
    updated = ("fetched_at", "checked_at", "signature", "settings")
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(STATE.primary_key.columns.keys()),
            set_={name: statement.excluded[name] for name in updated},
        ),
        rows,
    )


def _state_row(
    org_id: int,
    pass_name: str,
    item: Item,
    fetched_at: datetime,
    checked_at: datetime,
    *,
    signature: str,
    settings: str | None = None,
) -> dict[str, Any]:
    customer, program, promotion = item
    return {
        "org_id": org_id,
        "pass_name": pass_name,
        "customer_id": customer,
        "program_id": program,
        "promotion_id": promotion,
        "fetched_at": fetched_at,
        "checked_at": checked_at,
        "signature": signature,
        "settings": settings,
    }


def quarantine(conn: sa.Connection, org_id: int, pass_name: str, items: list[Item]) -> None:
    """Mark items whose answer was quarantined: their next sync fetches them (`retry`).

    A new item gets a state row dated long ago; a known one keeps its dates.
    """
    if not items:
        return
    long_ago = datetime(1970, 1, 1, tzinfo=UTC)
    rows = [
        _state_row(org_id, pass_name, item, long_ago, long_ago, signature=QUARANTINED)
        for item in items
    ]
    statement = insert(STATE)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(STATE.primary_key.columns.keys()),
            set_={"signature": statement.excluded.signature},
        ),
        rows,
    )


@dataclass
class Signals:
    """What one pass's signals did, for sync_runs, metadata and the summary."""

    fetched: Counter[str] = field(default_factory=Counter)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    sampled: int = 0
    sampled_changed: int = 0
    full_calls: int = 0  # what fetching every item would have cost

    @property
    def skipped(self) -> int:
        return self.skipped_by_reason.total()

    @property
    def items(self) -> int:
        return self.fetched.total() + self.skipped

    def add(self, other: Signals) -> None:
        self.fetched.update(other.fetched)
        self.skipped_by_reason.update(other.skipped_by_reason)
        self.sampled += other.sampled
        self.sampled_changed += other.sampled_changed
        self.full_calls += other.full_calls

    def as_json(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "fetched": dict(sorted(self.fetched.items())),
            "skipped": self.skipped,
            "skipped_by_reason": dict(sorted(self.skipped_by_reason.items())),
            "sampled": self.sampled,
            "sampled_changed": self.sampled_changed,
            "full_calls": self.full_calls,
        }


def reasons_query(query: sa.Select[Any]) -> sa.Select[Any]:
    """How many items of `query` (its last column the reason) there are by reason."""
    sub = query.subquery()
    reason = list(sub.c)[-1]
    return sa.select(reason, sa.func.count()).group_by(reason)


def count_reasons(conn: sa.Connection, query: sa.Select[Any]) -> Counter[str]:
    """The counts of a `reasons_query`."""
    return Counter({str(r): int(n) for r, n in conn.execute(query)})
