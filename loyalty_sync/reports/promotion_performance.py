"""Promotion performance: per promotion, who holds it and what it gave, from synced frames.

Plain pandas over the frames the warehouse I/O manager loads (no Dagster, no SQL), so the
same figures can be computed and tested anywhere. One row per promotion of `promotions`,
including promotions nobody holds yet (they show zero holders, which is itself news).

A benefit counts when something was issued: points or currency above zero, an incentive
issued at least once. actionSummary gives only each benefit's last issue time, so
`first_benefit_at` is the earliest of those: the first benefit came at or before it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

KEY = ["org_id", "program_id", "promotion_id"]
HOLDER = [*KEY, "customer_id"]

# The columns each input is read with (`AssetIn(metadata={"columns": ...})`).
INPUT_COLUMNS: dict[str, list[str]] = {
    "promotions": [*KEY, "promotion_name", "status", "active", "start_date", "end_date"],
    "customer_promotions": HOLDER,
    "loyalty_program_details": ["org_id", "program_id", "customer_id", "loyalty_id"],
    "benefit_summaries": [*HOLDER, "no_benefits"],
    "benefit_points": [*HOLDER, "points_category", "total_points_issued", "last_issued_on"],
    "benefit_alternate_currencies": [*HOLDER, "currency_name", "total_issued", "last_issued_on"],
    "benefit_incentives": [*HOLDER, "action", "action_issued_count", "last_issued_on"],
}

Frames = Mapping[str, pd.DataFrame]


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
    points = frames["benefit_points"]
    points = points[points["total_points_issued"].fillna(Decimal(0)) > 0]
    currencies = frames["benefit_alternate_currencies"]
    currencies = currencies[currencies["total_issued"].fillna(Decimal(0)) > 0]
    incentives = frames["benefit_incentives"]
    incentives = incentives[incentives["action_issued_count"].fillna(0) > 0]
    holders = frames["customer_promotions"]
    details = frames["loyalty_program_details"]
    enrolled = details[details["loyalty_id"].fillna(-1) != -1][
        ["org_id", "program_id", "customer_id"]
    ]
    summaries = frames["benefit_summaries"]
    benefited = pd.concat([f[HOLDER] for f in (points, currencies, incentives)]).drop_duplicates()
    issued_on = pd.concat([f[[*KEY, "last_issued_on"]] for f in (points, currencies, incentives)])
    dates = issued_on.groupby(KEY)["last_issued_on"].agg(["min", "max"])

    out = frames["promotions"].set_index(KEY)
    figures = [
        _count(holders, "holders"),
        _count(
            holders.merge(enrolled, on=["org_id", "program_id", "customer_id"]), "enrolled_holders"
        ),
        _count(summaries, "summaries_fetched"),
        summaries.groupby(KEY)["no_benefits"].sum().rename("no_benefits_summaries"),
        _count(benefited, "customers_benefited"),
        incentives.groupby(KEY)["action_issued_count"].sum().rename("incentives_issued"),
    ]
    for series in figures:
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
    out = out.join(dates.rename(columns={"min": "first_benefit_at", "max": "last_benefit_at"}))
    return out.reset_index().sort_values(KEY, ignore_index=True)


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
