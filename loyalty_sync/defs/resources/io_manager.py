"""`WarehouseIOManager`: downstream assets get the synced tables as pandas DataFrames.

The convention of Dagster's own warehouse integrations (dagster-duckdb-pandas,
dagster-snowflake-pandas): an asset that names an upstream table as a parameter,

    @dg.asset(partitions_def=org_program_partitions)
    def my_kpis(benefit_summaries: pd.DataFrame) -> None: ...

receives that table's rows of the partitions it runs for (every partition the instance
knows when it is unpartitioned), read in one streamed query (`warehouse/frames.py`), typed
from `tables.py`. `AssetIn(metadata={"columns": [...]})` reads only those columns.

The synced assets declare this manager (`dagster/io_manager_key`) only to be loaded
through it: the passes write their tables themselves, through the bulk writer, in one
transaction per table family, and return no value. A value handed to `handle_output` is a
mistake this manager refuses, naming the table, rather than a second way to write it.
"""

# No `from __future__ import annotations`: Dagster reads `ResourceDependency` from the
# evaluated annotation (see capillary.py).

from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from pydantic import Field

from loyalty_sync.defs.resources.warehouse import WarehouseResource
from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.frames import read_frame
from loyalty_sync.warehouse.scope import PartitionKeyError, PartitionScope, parse_partition_key

WAREHOUSE_IO_MANAGER = "warehouse_io_manager"


class ReadOnlyTableError(TypeError):
    """An asset returned a value for a table the warehouse I/O manager only reads."""


def table_of(asset_key: dg.AssetKey) -> sa.Table:
    """The warehouse table an asset key names (`benefit_points` -> capillary.benefit_points)."""
    table = tables.metadata.tables.get(f"{tables.SCHEMA}.{asset_key.path[-1]}")
    if table is None:
        raise dg.DagsterInvariantViolationError(
            f"{asset_key.to_user_string()} is not a warehouse table; the warehouse I/O manager "
            "loads only the tables of loyalty_sync/warehouse/tables.py"
        )
    return table


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Loads synced warehouse tables as DataFrames, partition by partition; never writes."""

    warehouse: dg.ResourceDependency[WarehouseResource] = Field(
        description="The warehouse the tables are read from: the one the passes wrote."
    )

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        name = context.asset_key.to_user_string() if context.has_asset_key else context.name
        raise ReadOnlyTableError(
            f"{name} returned a {type(obj).__name__}, but its table is written by its own "
            "step through the bulk writer; the warehouse I/O manager only loads it. Return "
            "dg.MaterializeResult(...) without a value."
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = table_of(context.asset_key)
        scope = _scope(context) if context.has_asset_partitions else None
        columns = context.definition_metadata.get("columns")
        frame = read_frame(self.warehouse.get_engine(), table, scope, columns)
        where = "every row" if scope is None else f"partitions {', '.join(scope.keys) or 'none'}"
        context.log.info(f"loaded {len(frame):,} rows of {tables.SCHEMA}.{table.name} ({where})")
        return frame


def _scope(context: dg.InputContext) -> PartitionScope:
    """The upstream partitions mapped to this step; a key naming no org/program is skipped.

    Anyone can add a partition key from the UI, so `nonsense` must not break every
    unpartitioned downstream asset (which loads all keys); it is reported and left out.
    """
    valid = []
    for key in context.asset_partition_keys:
        try:
            parse_partition_key(key)
        except PartitionKeyError as exc:
            context.log.warning(f"skipped: {exc}")
        else:
            valid.append(key)
    return PartitionScope.from_keys(valid)
