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
- Time and memory go to Python objects, so the read makes only those the frame keeps
  (jsonb dicts, Decimals, strings). Rows come from a psycopg server-side cursor, one
  FETCH per chunk and no SQLAlchemy row objects; timestamps arrive as integer epoch
  microseconds and become a datetime64 array without a datetime object per value; each
  chunk's jsonb arrives as text and is parsed in one `json.loads` call (which also shares
  the dicts' key strings across the chunk); equal strings of a chunk are one object. The
  cyclic garbage collector is paused during the read: a million new dicts would each
  count towards collections that traverse all of them, and nothing read can form a cycle.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_sync.warehouse.scope import PartitionScope

CHUNK_ROWS = 50_000
_NAT = np.iinfo(np.int64).min  # datetime64's NaT, as an integer


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


def _objects(values: Sequence[Any]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _series(values: Sequence[Any], column: sa.Column, dtype: Any) -> Any:
    if isinstance(column.type, JSONB):
        texts = ",".join("null" if v is None else v for v in values)
        return _objects(json.loads(f"[{texts}]"))
    if dtype is None:
        return _objects(values)
    if dtype == "int64":
        return np.fromiter(values, dtype=np.int64, count=len(values))
    if isinstance(column.type, sa.DateTime):
        if None in values:
            values = [_NAT if v is None else v for v in values]
        micros = np.fromiter(values, dtype=np.int64, count=len(values)).view("datetime64[us]")
        stamps = pd.Series(micros, copy=False)
        return (stamps.dt.tz_localize("UTC") if column.type.timezone else stamps).array
    if dtype == "str":
        shared: dict[Any, Any] = {}
        values = [shared.setdefault(v, v) for v in values]
    return pd.array(values, dtype=dtype)


def _frame(
    rows: Sequence[Sequence[Any]], chosen: list[sa.Column], dtypes: list[Any]
) -> pd.DataFrame:
    values = list(zip(*rows, strict=True)) if rows else [() for _ in chosen]
    return pd.DataFrame(
        {c.name: _series(v, c, dtype) for c, v, dtype in zip(chosen, values, dtypes, strict=True)},
        columns=[c.name for c in chosen],
    )


def _fetched(column: sa.Column) -> Any:
    """What the query selects for a column: jsonb as text, timestamps as epoch microseconds."""
    if isinstance(column.type, JSONB):
        return sa.cast(column, sa.Text).label(column.name)
    if isinstance(column.type, sa.DateTime):
        micros = sa.func.floor(sa.extract("epoch", column) * 1_000_000)
        return sa.cast(micros, sa.BigInteger).label(column.name)
    return column


@contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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
    dtypes = [_dtype(c) for c in chosen]
    query = sa.select(*(_fetched(c) for c in chosen)).order_by(*table.primary_key.columns)
    if scope is not None:
        query = query.where(scope.where(table))
    chunks: list[pd.DataFrame] = []
    with _collector_paused(), engine.connect() as conn:
        sql = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        driver = conn.connection.driver_connection
        with driver.cursor(name="loyalty_sync_read_frame") as cursor:  # type: ignore[union-attr]
            cursor.execute(str(sql), sql.params)
            while rows := cursor.fetchmany(chunk_rows):
                chunks.append(_frame(rows, chosen, dtypes))
    if not chunks:
        return _frame([], chosen, dtypes)
    if len(chunks) == 1:
        return chunks[0]
    return pd.concat(chunks, ignore_index=True)
