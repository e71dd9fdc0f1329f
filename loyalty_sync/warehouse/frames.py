"""Warehouse rows as a pandas DataFrame: one streamed query, typed from `tables.py`.

Why this shape:
- One query on a server-side cursor (`stream_results`), fetched in chunks: the rows never
  sit in memory as one list of Python tuples, which for a million rows would cost several
  times the frame itself. Each chunk becomes a small typed frame and the chunks are
  concatenated once, so the peak is about the frame plus one chunk.
- Types come from the table's declaration, not from guessing on the values, so an empty
  frame and a frame of nulls have the same dtypes as a full one: integers `int64`
  (`Int64` where the column is nullable), booleans `bool` (`boolean`), timestamptz
  `datetime64[us, UTC]`, floats `float64`, numeric as exact `Decimal`, jsonb as the
  Python objects psycopg parsed, text as pandas strings.
- Rows come in primary-key order, so the same data always gives the same frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_sync.warehouse.scope import PartitionScope

CHUNK_ROWS = 50_000


class ColumnSelectionError(ValueError):
    """Columns asked for that the table does not have."""


def selected_columns(table: sa.Table, columns: Sequence[str] | None) -> list[sa.Column]:
    """The table's columns in declared order, or those named, in the order named."""
    if columns is None:
        return list(table.columns)
    unknown = [name for name in columns if name not in table.c]
    if unknown:
        raise ColumnSelectionError(
            f"{table.name} has no column(s) {', '.join(unknown)}; "
            f"it has {', '.join(c.name for c in table.columns)}"
        )
    return [table.c[name] for name in dict.fromkeys(columns)]


def _dtype(column: sa.Column) -> Any:
    """The pandas dtype a column's values take, or None to keep the Python objects."""
    kind = column.type
    if isinstance(kind, sa.Integer):
        return "Int64" if column.nullable else "int64"
    if isinstance(kind, sa.Boolean):
        return "boolean" if column.nullable else "bool"
    if isinstance(kind, sa.DateTime):
        return "datetime64[us, UTC]" if kind.timezone else "datetime64[us]"
    if isinstance(kind, sa.Float):
        return "float64"
    if isinstance(kind, sa.Numeric | JSONB):
        return None
    return "str"


def _series(values: Sequence[Any], dtype: Any) -> Any:
    if dtype is None:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    if dtype == "int64":
        return np.fromiter(values, dtype=np.int64, count=len(values))
    return pd.array(values, dtype=dtype)


def _frame(rows: Sequence[Sequence[Any]], names: list[str], dtypes: list[Any]) -> pd.DataFrame:
    values = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pd.DataFrame(
        {name: _series(v, dtype) for name, v, dtype in zip(names, values, dtypes, strict=True)},
        columns=names,
    )


def read_frame(
    engine: sa.Engine,
    table: sa.Table,
    scope: PartitionScope | None = None,
    columns: Sequence[str] | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> pd.DataFrame:
    """The rows of `table` in `scope` (every row without one), as a typed DataFrame.

    `columns` names the columns to read (default all). An empty scope reads no rows.
    """
    chosen = selected_columns(table, columns)
    names = [c.name for c in chosen]
    dtypes = [_dtype(c) for c in chosen]
    query = sa.select(*chosen).order_by(*table.primary_key.columns)
    if scope is not None:
        query = query.where(scope.where(table))
    chunks: list[pd.DataFrame] = []
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(query)
        for rows in result.partitions():
            chunks.append(_frame(rows, names, dtypes))
    if not chunks:
        return _frame([], names, dtypes)
    if len(chunks) == 1:
        return chunks[0]
    return pd.concat(chunks, ignore_index=True)
