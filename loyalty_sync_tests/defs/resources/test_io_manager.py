"""The warehouse I/O manager, as a data team uses it: assets defined here, written the
ordinary way, materialised against the tables a simulator sync wrote."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from loyalty_sync.defs.assets import capillary_assets
from loyalty_sync.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from loyalty_sync.defs.partitions import org_program_partitions
from loyalty_sync.defs.resources import WAREHOUSE_IO_MANAGER, resources_from_env
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope
from loyalty_sync_tests.synced_warehouse import Warehouse, synced_warehouse

LOADED: dict[str, pd.DataFrame] = {}
POINT_COLUMNS = ["customer_id", "promotion_id", "total_points_issued"]


@dg.asset(partitions_def=org_program_partitions)
def my_kpis(benefit_summaries: pd.DataFrame, benefit_points: pd.DataFrame) -> None:
    LOADED["benefit_summaries"] = benefit_summaries
    LOADED["benefit_points"] = benefit_points


@dg.asset(
    partitions_def=org_program_partitions,
    ins={"benefit_points": dg.AssetIn(metadata={"columns": POINT_COLUMNS})},
)
def points_only(benefit_points: pd.DataFrame) -> None:
    LOADED["points_only"] = benefit_points


@dg.asset
def every_customer(customers: pd.DataFrame) -> None:
    LOADED["every_customer"] = customers


@dg.asset(io_manager_key=WAREHOUSE_IO_MANAGER)
def writes_through_the_manager() -> pd.DataFrame:
    return pd.DataFrame({"org_id": [1]})


@pytest.fixture(scope="module")
def synced(
    server_admin_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    with synced_warehouse(server_admin_url, tmp_path_factory.mktemp("io")) as synced:
        yield synced


def _materialize(synced: Warehouse, asset: Any, keys: list[str] | None) -> Any:
    LOADED.clear()
    if keys is None or len(keys) == 1:
        partition_key, tags = (keys[0] if keys else None), {}
    else:
        partition_key, tags = None, {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}
    with synced.environment(), synced.instance() as instance:
        return dg.materialize(
            [*capillary_assets, asset],
            selection=[asset],
            resources=resources_from_env(),
            instance=instance,
            partition_key=partition_key,
            tags=tags,
            raise_on_error=False,
        )


def _stored(synced: Warehouse, table: sa.Table, keys: list[str] | None) -> list[Any]:
    query = sa.select(table).order_by(*table.primary_key.columns)
    if keys is not None:
        query = query.where(PartitionScope.from_keys(keys).where(table))
    with synced.engine.connect() as conn:
        return list(conn.execute(query))


def _plain(value: Any) -> Any:
    """A frame cell as the Python value the database row holds."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if not isinstance(value, dict | list) and pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") and not isinstance(value, Decimal) else value


def _assert_frame_is(frame: pd.DataFrame, rows: list[Any], table: sa.Table) -> None:
    assert list(frame.columns) == [c.name for c in table.columns]
    assert [tuple(_plain(v) for v in r) for r in frame.itertuples(index=False)] == [
        tuple(r) for r in rows
    ]


@pytest.mark.parametrize("count", [1, 2])
def test_a_downstream_asset_gets_exactly_its_partitions_rows(synced: Warehouse, count: int) -> None:
    keys = synced.partition_keys()[:count]
    result = _materialize(synced, my_kpis, keys)
    assert result.success
    for name in ("benefit_summaries", "benefit_points"):
        table = tables.metadata.tables[f"capillary.{name}"]
        rows = _stored(synced, table, keys)
        assert rows, name  # the scenario must hold rows for the comparison to mean anything
        assert len(rows) < len(_stored(synced, table, None))  # and other partitions too
        _assert_frame_is(LOADED[name], rows, table)


def test_frames_are_typed(synced: Warehouse) -> None:
    assert _materialize(synced, my_kpis, synced.partition_keys()[:1]).success
    summaries, points = LOADED["benefit_summaries"], LOADED["benefit_points"]
    assert str(summaries["customer_id"].dtype) == "int64"
    assert str(summaries["warning_code"].dtype) == "Int64"  # nullable integer
    assert summaries["no_benefits"].dtype == bool
    assert {type(v) for v in summaries["raw"]} == {dict}
    assert all(isinstance(v, Decimal) for v in points["total_points_issued"].dropna())
    issued = points["last_issued_on"].dropna()
    assert len(issued) and str(points["last_issued_on"].dtype) == "datetime64[us, UTC]"
    assert isinstance(issued.iloc[0], datetime) and issued.iloc[0].tzinfo is not None
    assert summaries["synced_at"].dt.tz is not None


def test_columns_metadata_loads_only_those_columns(synced: Warehouse) -> None:
    keys = synced.partition_keys()[:1]
    assert _materialize(synced, points_only, keys).success
    frame = LOADED["points_only"]
    assert list(frame.columns) == POINT_COLUMNS
    expected = [
        (r.customer_id, r.promotion_id, r.total_points_issued)
        for r in _stored(synced, tables.benefit_points, keys)
    ]
    assert list(frame.itertuples(index=False, name=None)) == expected


def test_an_unpartitioned_asset_gets_every_row(synced: Warehouse) -> None:
    assert _materialize(synced, every_customer, None).success
    _assert_frame_is(
        LOADED["every_customer"], _stored(synced, tables.customers, None), tables.customers
    )


def test_a_value_for_a_warehouse_table_is_refused(synced: Warehouse) -> None:
    result = _materialize(synced, writes_through_the_manager, None)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.event_specific_data.error)  # type: ignore[union-attr]
    assert "only loads it" in message and "MaterializeResult" in message
