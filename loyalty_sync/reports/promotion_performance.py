"""Promotion performance: per promotion, who holds it and what it gave.

Two forms of the same figures: `performance_query` aggregates in Postgres, so a sync of
any size reads one row per promotion back (what the asset runs, for the promotions whose
inputs changed, see `performance_refresh`; the synced tables hold about 43 rows a
customer, which as DataFrames cost gigabytes at a million members), and
`promotion_performance` computes them with pandas from frames of those tables, for a
team's own analysis of a sample. One row per promotion of `promotions`, including
promotions nobody holds yet (they show zero holders, which is itself news).

A benefit counts when something was issued: points or currency above zero, an incentive
issued at least once. actionSummary gives only each benefit's last issue time, so
`first_benefit_at` is the earliest of those: the first benefit came at or before it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import pandas as pd
import sqlalchemy as sa

from loyalty_sync.warehouse import tables

KEY = ["org_id", "program_id", "promotion_id"]
HOLDER = [*KEY, "customer_id"]
PROMOTION_COLUMNS = ["promotion_name", "status", "active", "start_date", "end_date"]

# The columns each input is read with (`AssetIn(metadata={"columns": ...})`).
INPUT_COLUMNS: dict[str, list[str]] = {
    "promotions": [*KEY, *PROMOTION_COLUMNS],
    "customer_promotions": HOLDER,
    "loyalty_program_details": ["org_id", "program_id", "customer_id", "loyalty_id"],
    "benefit_summaries": [*HOLDER, "no_benefits"],
    "benefit_points": [*HOLDER, "points_category", "total_points_issued", "last_issued_on"],
    "benefit_alternate_currencies": [*HOLDER, "currency_name", "total_issued", "last_issued_on"],
    "benefit_incentives": [*HOLDER, "action", "action_issued_count", "last_issued_on"],
}

Frames = Mapping[str, pd.DataFrame]


class RowFilter(Protocol):
    """What the query reads of each input: a `PartitionScope`, or some promotions of one."""

    def where(self, rows: sa.FromClause) -> sa.ColumnElement[bool]: ...


COUNTS = (
    "holders",
    "enrolled_holders",
    "summaries_fetched",
    "no_benefits_summaries",
    "customers_benefited",
    "incentives_issued",
)


def json_number(value: Any) -> int | float:
    """A total as a JSON number: an integer when it is whole, so maps read `{"STARS": 40}`."""
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


def _count(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame.groupby(KEY).size().rename(name)


def _maps(frame: pd.DataFrame, by: str, value: str) -> dict[Hashable, dict[str, int | float]]:
    """{promotion key: {category: total}} from rows of one benefit table."""
    maps: dict[Hashable, dict[str, int | float]] = {}
    for (*key, name), total in frame.groupby([*KEY, by])[value].sum().items():
        maps.setdefault(tuple(key), {})[str(name)] = json_number(total)
    return maps


def promotion_performance(frames: Frames) -> pd.DataFrame:
    """One row per promotion with the columns of `tables.promotion_performance`."""
    points, currencies, incentives = _issuing(frames)
    out = frames["promotions"].set_index(KEY)
    for series in _count_figures(frames, points, currencies, incentives):
        out = out.join(series)
        out[series.name] = out[series.name].fillna(0).astype("int64")
    out["no_benefits_share"] = (out["no_benefits_summaries"] / out["summaries_fetched"]).where(
        out["summaries_fetched"] > 0
    )
    out = out.join(points.groupby(KEY)["total_points_issued"].sum().rename("points_issued"))
    out["points_issued"] = [Decimal(0) if pd.isna(v) else v for v in out["points_issued"]]
    for column, maps in (
        ("points_by_category", _maps(points, "points_category", "total_points_issued")),
        ("currencies_issued", _maps(currencies, "currency_name", "total_issued")),
        ("incentives_by_action", _maps(incentives, "action", "action_issued_count")),
    ):
        out[column] = [maps.get(key, {}) for key in out.index]
    issued_on = pd.concat([f[[*KEY, "last_issued_on"]] for f in (points, currencies, incentives)])
    dates = issued_on.groupby(KEY)["last_issued_on"].agg(["min", "max"])
    out = out.join(dates.rename(columns={"min": "first_benefit_at", "max": "last_benefit_at"}))
    return out.reset_index().sort_values(KEY, ignore_index=True)


def _issuing(frames: Frames) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The rows of the three benefit tables that issued something."""
    points = frames["benefit_points"]
    currencies = frames["benefit_alternate_currencies"]
    incentives = frames["benefit_incentives"]
    return (
        points[points["total_points_issued"].fillna(Decimal(0)) > 0],
        currencies[currencies["total_issued"].fillna(Decimal(0)) > 0],
        incentives[incentives["action_issued_count"].fillna(0) > 0],
    )


def _count_figures(
    frames: Frames, points: pd.DataFrame, currencies: pd.DataFrame, incentives: pd.DataFrame
) -> list[pd.Series]:
    """The per-promotion counts (`COUNTS`), each a series keyed by promotion."""
    holders = frames["customer_promotions"]
    details = frames["loyalty_program_details"]
    enrolled = details[details["loyalty_id"].fillna(-1) != -1][
        ["org_id", "program_id", "customer_id"]
    ]
    summaries = frames["benefit_summaries"]
    benefited = pd.concat([f[HOLDER] for f in (points, currencies, incentives)]).drop_duplicates()
    return [
        _count(holders, "holders"),
        _count(
            holders.merge(enrolled, on=["org_id", "program_id", "customer_id"]), "enrolled_holders"
        ),
        _count(summaries, "summaries_fetched"),
        summaries.groupby(KEY)["no_benefits"].sum().rename("no_benefits_summaries"),
        _count(benefited, "customers_benefited"),
        incentives.groupby(KEY)["action_issued_count"].sum().rename("incentives_issued"),
    ]


def _keyed(t: sa.Table) -> list[sa.ColumnElement[Any]]:
    return [t.c[name] for name in KEY]


def _on(left: sa.FromClause, right: sa.FromClause, names: list[str]) -> sa.ColumnElement[bool]:
    return sa.and_(*(left.c[n] == right.c[n] for n in names))


def _json_number(total: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`json_number` in SQL: a whole total as a JSON integer, any other as a float."""
    return sa.case(
        (total == sa.func.trunc(total), sa.func.to_jsonb(sa.cast(total, sa.Numeric(38, 0)))),
        else_=sa.func.to_jsonb(sa.cast(total, sa.Float)),
    )


def _issued() -> list[tuple[sa.Table, str, str]]:
    """The benefit tables with the column that says what was issued and its breakdown."""
    return [
        (tables.benefit_points, "total_points_issued", "points_category"),
        (tables.benefit_alternate_currencies, "total_issued", "currency_name"),
        (tables.benefit_incentives, "action_issued_count", "action"),
    ]


def _by(t: sa.Table, value: str, by: str, scope: RowFilter, name: str) -> sa.Subquery:
    """{breakdown: total} per promotion, of the rows that issued something."""
    total = sa.func.sum(t.c[value])
    inner = (
        sa.select(*_keyed(t), t.c[by].label("name"), total.label("total"))
        .where(scope.where(t), sa.func.coalesce(t.c[value], 0) > 0)
        .group_by(*_keyed(t), t.c[by])
        .subquery()
    )
    return (
        sa.select(
            *(inner.c[k] for k in KEY),
            sa.func.jsonb_object_agg(inner.c.name, _json_number(inner.c.total)).label(name),
            sa.func.sum(inner.c.total).label("total"),
        )
        .group_by(*(inner.c[k] for k in KEY))
        .subquery(name)
    )


def performance_query(scope: RowFilter) -> sa.Select[Any]:
    """The figures of `promotion_performance` for the promotions of `scope`, in SQL."""
    p = tables.promotions
    holders, summaries, benefited = _holders(scope), _summaries(scope), _benefited(scope)
    points, currencies, incentives = _breakdowns(scope)
    joined = p
    for sub in (holders, summaries, benefited, points, currencies, incentives):
        joined = joined.outerjoin(sub, _on(p, sub, KEY))
    fetched = sa.func.coalesce(summaries.c.fetched, 0)
    no_benefits = sa.func.coalesce(summaries.c.no_benefits, 0)
    empty = sa.cast(sa.literal("{}"), tables.promotion_performance.c.points_by_category.type)
    share = sa.case((fetched > 0, sa.cast(no_benefits, sa.Float) / fetched), else_=sa.null())
    incentives_issued = sa.cast(sa.func.coalesce(incentives.c.total, 0), sa.BigInteger)
    return (
        sa.select(
            *_keyed(p),
            *(p.c[name] for name in PROMOTION_COLUMNS),
            sa.func.coalesce(holders.c.holders, 0).label("holders"),
            sa.func.coalesce(holders.c.enrolled_holders, 0).label("enrolled_holders"),
            fetched.label("summaries_fetched"),
            no_benefits.label("no_benefits_summaries"),
            share.label("no_benefits_share"),
            sa.func.coalesce(benefited.c.customers, 0).label("customers_benefited"),
            sa.func.coalesce(points.c.total, 0).label("points_issued"),
            sa.func.coalesce(points.c.points_by_category, empty).label("points_by_category"),
            sa.func.coalesce(currencies.c.currencies_issued, empty).label("currencies_issued"),
            incentives_issued.label("incentives_issued"),
            sa.func.coalesce(incentives.c.incentives_by_action, empty).label(
                "incentives_by_action"
            ),
            benefited.c.first.label("first_benefit_at"),
            benefited.c.last.label("last_benefit_at"),
        )
        .select_from(joined)
        .where(scope.where(p))
        .order_by(*_keyed(p))
    )


def _breakdowns(scope: RowFilter) -> list[sa.Subquery]:
    """Points by category, currencies by name and incentives by action, per promotion."""
    names = ["points_by_category", "currencies_issued", "incentives_by_action"]
    return [
        _by(t, value, by, scope, name)
        for (t, value, by), name in zip(_issued(), names, strict=True)
    ]


def _holders(scope: RowFilter) -> sa.Subquery:
    """Per promotion: its holders, and those enrolled in the program."""
    cp, lpd = tables.customer_promotions, tables.loyalty_program_details
    enrolled = sa.and_(
        _on(cp, lpd, ["org_id", "program_id", "customer_id"]),
        sa.func.coalesce(lpd.c.loyalty_id, -1) != -1,
    )
    return (
        sa.select(
            *_keyed(cp),
            sa.func.count().label("holders"),
            sa.func.count(lpd.c.customer_id).label("enrolled_holders"),
        )
        .select_from(cp.outerjoin(lpd, enrolled))
        .where(scope.where(cp))
        .group_by(*_keyed(cp))
        .subquery("holders")
    )


def _summaries(scope: RowFilter) -> sa.Subquery:
    """Per promotion: actionSummary answers stored, and those that were 8116."""
    bs = tables.benefit_summaries
    return (
        sa.select(
            *_keyed(bs),
            sa.func.count().label("fetched"),
            sa.func.count().filter(bs.c.no_benefits).label("no_benefits"),
        )
        .where(scope.where(bs))
        .group_by(*_keyed(bs))
        .subquery("summaries")
    )


def _benefited(scope: RowFilter) -> sa.Subquery:
    """Per promotion: customers issued anything, and the first and last issue times."""
    benefits = sa.union_all(
        *(
            sa.select(*_keyed(t), t.c.customer_id, t.c.last_issued_on).where(
                scope.where(t), sa.func.coalesce(t.c[value], 0) > 0
            )
            for t, value, _ in _issued()
        )
    ).subquery("benefits")
    key = [benefits.c[k] for k in KEY]
    return (
        sa.select(
            *key,
            sa.func.count(sa.distinct(benefits.c.customer_id)).label("customers"),
            sa.func.min(benefits.c.last_issued_on).label("first"),
            sa.func.max(benefits.c.last_issued_on).label("last"),
        )
        .group_by(*key)
        .subquery("benefited")
    )


def computed(conn: sa.Connection, scope: RowFilter) -> pd.DataFrame:
    """`performance_query`'s rows as a frame: one row per promotion, nothing else read."""
    return as_frame(conn.execute(performance_query(scope)))


def as_frame(result: sa.CursorResult[Any]) -> pd.DataFrame:
    """Rows of the report's columns as a frame, counts as int64 and the share as float."""
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for name in COUNTS:
        frame[name] = frame[name].astype("int64")
    frame["no_benefits_share"] = frame["no_benefits_share"].astype("float64")
    return frame


def as_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame as writer rows: Python scalars, None for every missing value."""
    rows = []
    for record in frame.to_dict("records"):
        rows.append({k: _scalar(v) for k, v in record.items()})
    return rows


def _scalar(value: Any) -> Any:
    if isinstance(value, dict | list):
        return value
    if value is None or pd.isna(value):
        return None
    if isinstance(value, np.generic):  # psycopg adapts Python scalars, not numpy's
        return value.item()
    return value
