"""`promotion_performance` after a simulator sync: the same figures as SQL over the synced
tables, refreshed by `run_sync` (what `loyalty-sync sync` runs) and shown in metadata."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from loyalty_sync.defs.jobs import CAPILLARY_SYNC_JOB
from loyalty_sync.defs.sensors.new_promotions import PROMOTION_ASSET_KEYS
from loyalty_sync.warehouse import tables
from loyalty_sync_tests.synced_warehouse import Warehouse, synced_warehouse

KEY = "org_id, program_id, promotion_id"

# Each figure computed in SQL, independently of the pandas code: {promotion key: value}.
FIGURES_SQL = {
    "holders": f"SELECT {KEY}, count(*) FROM capillary.customer_promotions GROUP BY {KEY}",
    "enrolled_holders": f"""
        SELECT {KEY}, count(*) FROM capillary.customer_promotions
        JOIN capillary.loyalty_program_details USING (org_id, program_id, customer_id)
        WHERE loyalty_id <> -1 GROUP BY {KEY}""",
    "summaries_fetched": f"SELECT {KEY}, count(*) FROM capillary.benefit_summaries GROUP BY {KEY}",
    "no_benefits_summaries": f"""
        SELECT {KEY}, count(*) FILTER (WHERE no_benefits) FROM capillary.benefit_summaries
        GROUP BY {KEY}""",
    "points_issued": f"""
        SELECT {KEY}, sum(total_points_issued) FROM capillary.benefit_points
        WHERE total_points_issued > 0 GROUP BY {KEY}""",
    "points_by_category": f"""
        SELECT {KEY}, jsonb_object_agg(points_category, total) FROM (
            SELECT {KEY}, points_category, sum(total_points_issued) AS total
            FROM capillary.benefit_points WHERE total_points_issued > 0
            GROUP BY {KEY}, points_category) p GROUP BY {KEY}""",
    "currencies_issued": f"""
        SELECT {KEY}, jsonb_object_agg(currency_name, total) FROM (
            SELECT {KEY}, currency_name, sum(total_issued) AS total
            FROM capillary.benefit_alternate_currencies WHERE total_issued > 0
            GROUP BY {KEY}, currency_name) c GROUP BY {KEY}""",
    "incentives_by_action": f"""
        SELECT {KEY}, jsonb_object_agg(action, total) FROM (
            SELECT {KEY}, action, sum(action_issued_count) AS total
            FROM capillary.benefit_incentives WHERE action_issued_count > 0
            GROUP BY {KEY}, action) i GROUP BY {KEY}""",
    "incentives_issued": f"""
        SELECT {KEY}, sum(action_issued_count) FROM capillary.benefit_incentives
        WHERE action_issued_count > 0 GROUP BY {KEY}""",
}
BENEFITS_SQL = f"""
    SELECT {KEY}, customer_id, last_issued_on FROM capillary.benefit_points
        WHERE total_points_issued > 0
    UNION ALL SELECT {KEY}, customer_id, last_issued_on
        FROM capillary.benefit_alternate_currencies WHERE total_issued > 0
    UNION ALL SELECT {KEY}, customer_id, last_issued_on
        FROM capillary.benefit_incentives WHERE action_issued_count > 0"""
BENEFIT_FIGURES_SQL = f"""
    SELECT {KEY}, count(DISTINCT customer_id), min(last_issued_on), max(last_issued_on)
    FROM ({BENEFITS_SQL}) b GROUP BY {KEY}"""


@pytest.fixture(scope="module")
def synced(
    server_admin_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    with synced_warehouse(server_admin_url, tmp_path_factory.mktemp("reports")) as synced:
        yield synced


def _expected(conn: sa.Connection) -> dict[tuple[int, int, int], dict[str, Any]]:
    expected: dict[tuple[int, int, int], dict[str, Any]] = {}
    for key in conn.execute(sa.text(f"SELECT {KEY} FROM capillary.promotions")):
        expected[tuple(key)] = {
            **dict.fromkeys(
                ["holders", "enrolled_holders", "summaries_fetched", "no_benefits_summaries"], 0
            ),
            **{"customers_benefited": 0, "incentives_issued": 0, "points_issued": Decimal(0)},
            **{"points_by_category": {}, "currencies_issued": {}, "incentives_by_action": {}},
            **{"first_benefit_at": None, "last_benefit_at": None},
        }
    for name, query in FIGURES_SQL.items():
        for *key, value in conn.execute(sa.text(query)):
            expected[tuple(key)][name] = value
    for *key, benefited, first, last in conn.execute(sa.text(BENEFIT_FIGURES_SQL)):
        expected[tuple(key)].update(
            customers_benefited=benefited, first_benefit_at=first, last_benefit_at=last
        )
    for figures in expected.values():
        fetched = figures["summaries_fetched"]
        figures["no_benefits_share"] = (
            figures["no_benefits_summaries"] / fetched if fetched else None
        )
    return expected


def test_promotion_performance_equals_the_same_figures_in_sql(synced: Warehouse) -> None:
    with synced.engine.connect() as conn:
        expected = _expected(conn)
        stored = list(conn.execute(sa.select(tables.promotion_performance)))
    assert {(r.org_id, r.program_id, r.promotion_id) for r in stored} == set(expected)
    for row in stored:
        figures = expected[(row.org_id, row.program_id, row.promotion_id)]
        for name, value in figures.items():
            actual = getattr(row, name)
            if name == "no_benefits_share" and value is not None:
                assert actual == pytest.approx(value), name
            elif isinstance(value, dict):
                assert {k: Decimal(str(v)) for k, v in actual.items()} == {
                    k: Decimal(str(v)) for k, v in value.items()
                }, name
            else:
                assert actual == value, (name, row)
    # The scenario must hold both kinds of promotion for the comparison to mean anything.
    assert any(r.customers_benefited for r in stored)
    assert any(r.summaries_fetched and not r.customers_benefited for r in stored)
    assert any(r.points_by_category for r in stored)
    assert any(r.incentives_by_action for r in stored)


def test_the_sync_run_materialises_it_with_table_and_plotted_metadata(
    synced: Warehouse,
) -> None:
    (run,) = synced.summary.runs
    assert synced.summary.rows["promotion_performance"] > 0
    with synced.instance() as instance:
        assert instance.get_run_by_id(run.run_id).job_name == CAPILLARY_SYNC_JOB  # type: ignore[union-attr]
        key = dg.AssetKey("promotion_performance")
        event = instance.get_latest_materialization_event(key)
    assert event is not None and event.run_id == run.run_id
    metadata = event.asset_materialization.metadata  # type: ignore[union-attr]
    table = metadata["promotions_table"].value
    assert "| promotion | name |" in table and "8116 share" in table
    with synced.engine.connect() as conn:
        count = conn.scalar(sa.select(sa.func.count()).select_from(tables.promotion_performance))
    assert metadata["promotions"] == dg.MetadataValue.int(count)
    for name in ("holders", "summaries_fetched", "promotions_giving_nothing", "incentives_issued"):
        assert isinstance(metadata[name], dg.IntMetadataValue), name
    for name in ("no_benefits_share", "points_issued"):
        assert isinstance(metadata[name], dg.FloatMetadataValue), name


def test_each_partition_records_its_own_row_count(synced: Warehouse) -> None:
    (run,) = synced.summary.runs
    with synced.instance() as instance:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("promotion_performance")), limit=100
        ).records
    recorded = {
        r.partition_key: r.asset_materialization.metadata["dagster/row_count"].value  # type: ignore[union-attr]
        for r in records
        if r.run_id == run.run_id
    }
    t = tables.promotion_performance
    with synced.engine.connect() as conn:
        stored = {
            f"{org}-{program}": n
            for org, program, n in conn.execute(
                sa.select(t.c.org_id, t.c.program_id, sa.func.count()).group_by(
                    t.c.org_id, t.c.program_id
                )
            )
        }
    assert recorded == stored and len(recorded) == len(run.partition_keys) > 1
    assert sum(recorded.values()) == synced.summary.rows["promotion_performance"]


def test_a_new_promotion_run_refreshes_it_too() -> None:
    assert dg.AssetKey("promotion_performance") in PROMOTION_ASSET_KEYS
