"""The one bulk writer every asset uses: COPY into a staging table, then merge in SQL.

Why this shape:
- COPY moves rows at hundreds of thousands per second, where row-by-row INSERTs (or
  pandas `to_sql`) pay a round trip and a parse per statement.
- The merge is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE <values differ>`: rows
  whose values did not change are not rewritten (their `xmin` and `synced_at` stay), so a
  re-run with unchanged data writes nothing and `synced_at` keeps meaning "last changed".
- Rows of the scope (for example one org/program partition) that the batch no longer
  holds are deleted, so the table mirrors what the API serves now.
- Everything runs on the caller's connection and transaction: a failure anywhere rolls
  the whole batch back and leaves the previous rows as they were.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from loyalty_sync.warehouse import tables
from loyalty_sync.warehouse.scope import PartitionScope

WRITER_COLUMNS = frozenset({"synced_at", "run_id"})


class BatchError(ValueError):
    """A batch the writer refuses: unknown columns, duplicate keys, rows outside the scope."""


@dataclass(frozen=True)
class HeldDeletes:
    """Deletes a chunk of a pass records instead of doing: the end of the pass applies them.

    Only rows of the chunk's own items (`item_columns` in `items`) are judged: an item the
    chunk answered in full says which of its rows the API no longer serves. Items not in
    the chunk, and rows of items that failed, are left alone. The rows of `reshaped` items
    (fetched under other settings, so their rows have another shape) are marked: they are
    replaced, not dropped.
    """

    checkpoint_id: int
    item_columns: tuple[str, ...]
    items: Sequence[tuple[Any, ...]]
    reshaped: Sequence[tuple[Any, ...]] = ()


@dataclass(frozen=True)
class MergeResult:
    table: str
    staged: int
    inserted: int
    updated: int
    deleted: int

    @property
    def unchanged(self) -> int:
        return self.staged - self.inserted - self.updated

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.deleted


def data_columns(table: sa.Table, only: Iterable[str] | None = None) -> list[sa.Column]:
    """Columns a batch supplies: everything but the writer's own and identity columns.

    With `only`, the key columns plus those named: the batch then owns just these columns
    and leaves the others of existing rows alone.
    """
    wanted = None if only is None else {*only, *(c.name for c in table.primary_key.columns)}
    columns = [c for c in table.columns if c.name not in WRITER_COLUMNS and c.identity is None]
    if wanted is None:
        return columns
    unknown = wanted - {c.name for c in columns}
    if unknown:
        raise BatchError(f"{table.name} has no columns {sorted(unknown)}")
    return [c for c in columns if c.name in wanted]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _encode(
    rows: Iterable[Mapping[str, Any]], table: sa.Table, columns: Sequence[sa.Column]
) -> Iterable[tuple[Any, ...]]:
    """Turn mappings into COPY tuples in column order, refusing keys the batch doesn't own."""
    names = [c.name for c in columns]
    allowed = frozenset(names)
    json_positions = [i for i, c in enumerate(columns) if isinstance(c.type, JSONB)]
    defaults = {i: "{}" for i, c in enumerate(columns) if c.name == "raw" and not c.nullable}
    for number, row in enumerate(rows, start=1):
        unknown = row.keys() - allowed
        if unknown:
            raise BatchError(
                f"row {number} for {table.name} has columns the batch lacks: {sorted(unknown)}"
            )
        values = [row.get(name) for name in names]
        for i in json_positions:
            if values[i] is not None:
                values[i] = json.dumps(values[i], default=_json_default, sort_keys=True)
            elif i in defaults:
                values[i] = defaults[i]
        yield tuple(values)


def _quote(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _qualified(conn: sa.Connection, table: sa.Table) -> str:
    return f"{_quote(conn, table.schema or 'public')}.{_quote(conn, table.name)}"


class StagedMerge:
    """A merge fed in chunks: rows are COPYed into a temp table as they come, merged on `finish`.

    A sync pass holds one per table of its family, all on one connection and transaction,
    so a roster of any size streams through in constant memory and the family commits (or
    rolls back) as a whole.
    """

    def __init__(
        self,
        conn: sa.Connection,
        table: sa.Table,
        *,
        run_id: str,
        scope: PartitionScope | None = None,
        columns: Iterable[str] | None = None,
    ) -> None:
        if scope is not None and "org_id" not in table.c:
            raise BatchError(f"{table.name} has no org_id: it cannot be scoped by partition")
        self.conn = conn
        self.table = table
        self.run_id = run_id
        self.scope = scope
        self.columns = data_columns(table, columns)
        self.stage = f"stage_{table.name}"
        self.staged = 0
        names = [c.name for c in self.columns]
        self._column_list = ", ".join(_quote(conn, n) for n in names)
        self._key_positions = [names.index(c.name) for c in table.primary_key.columns]
        self._seen: set[tuple[Any, ...]] = set()
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.stage}"))
        conn.execute(
            sa.text(
                f"CREATE TEMP TABLE {self.stage} ON COMMIT DROP AS "
                f"SELECT {self._column_list} FROM {_qualified(conn, table)} WITH NO DATA"
            )
        )

    def add(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """COPY a chunk of rows into the stage; refuse duplicates across all chunks."""
        count = 0
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {self.stage} ({self._column_list}) FROM STDIN") as copy:
            for values in _encode(rows, self.table, self.columns):
                key = tuple(values[i] for i in self._key_positions)
                if key in self._seen:
                    raise BatchError(f"duplicate key {key} in the batch for {self.table.name}")
                self._seen.add(key)
                copy.write_row(values)
                count += 1
        self.staged += count
        return count

    def finish(self, held: HeldDeletes | None = None) -> MergeResult:
        """Merge the stage into the table (and delete what the scope lost); drop the stage.

        With `held`, the rows the scope lost are recorded in `sync_pending_deletes`
        instead of deleted (`deleted` then counts rows held back).
        """
        conn, stage = self.conn, self.stage
        conn.execute(sa.text(f"ANALYZE {stage}"))
        staged_rows = sa.table(stage, *(sa.column(c.name) for c in self.columns))
        self._check_scope(staged_rows)
        keys = [c.name for c in self.table.primary_key.columns]
        inserted, updated = conn.execute(
            sa.text(self._upsert_sql(keys)), {"run_id": self.run_id}
        ).one()
        deleted = self._delete_lost(staged_rows, keys, held)
        conn.execute(sa.text(f"DROP TABLE {stage}"))
        return MergeResult(
            table=self.table.name,
            staged=self.staged,
            inserted=int(inserted),
            updated=int(updated),
            deleted=int(deleted),
        )

    def _check_scope(self, staged_rows: sa.TableClause) -> None:
        """Refuse a stage holding rows outside the partitions the merge replaces."""
        if self.scope is None:
            return
        outside = self.conn.scalar(
            sa.select(sa.func.count())
            .select_from(staged_rows)
            .where(sa.not_(self.scope.where(staged_rows)))
        )
        if outside:
            raise BatchError(
                f"{outside} row(s) for {self.table.name} fall outside the partitions "
                f"{', '.join(self.scope.keys) or '(none)'}"
            )

    def _upsert_sql(self, keys: list[str]) -> str:
        """INSERT ... ON CONFLICT from the stage, rewriting only rows whose values changed;
        it returns (rows inserted, rows updated)."""
        conn = self.conn
        values = [c.name for c in self.columns if c.name not in keys]
        all_columns = [*keys, *values]
        insert_list = ", ".join(_quote(conn, n) for n in [*all_columns, "synced_at", "run_id"])
        select_list = ", ".join(_quote(conn, n) for n in all_columns)
        conflict = ", ".join(_quote(conn, k) for k in keys)
        on_conflict = "DO NOTHING"
        if values:
            assignments = ", ".join(
                f"{_quote(conn, n)} = EXCLUDED.{_quote(conn, n)}"
                for n in [*values, "synced_at", "run_id"]
            )
            old = ", ".join(f"t.{_quote(conn, n)}" for n in values)
            new = ", ".join(f"EXCLUDED.{_quote(conn, n)}" for n in values)
            on_conflict = (
                f"DO UPDATE SET {assignments} WHERE ROW({old}) IS DISTINCT FROM ROW({new})"
            )
        return (
            f"WITH written AS ("
            f" INSERT INTO {_qualified(conn, self.table)} AS t ({insert_list})"
            f" SELECT {select_list}, now(), :run_id FROM {self.stage}"
            f" ON CONFLICT ({conflict}) {on_conflict}"
            f" RETURNING (xmax = 0) AS inserted)"
            f" SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)"
            f" FROM written"
        )

    def _delete_lost(
        self, staged_rows: sa.TableClause, keys: list[str], held: HeldDeletes | None
    ) -> int:
        """Rows of the scope the stage no longer holds: deleted, or held back with `held`."""
        if self.scope is None:
            return 0
        if held is not None:
            return self._hold_deletes(staged_rows, keys, held)
        table = self.table
        still_served = sa.select(sa.literal(1)).where(
            *(staged_rows.c[k] == table.c[k] for k in keys)
        )
        return int(
            self.conn.execute(
                sa.delete(table).where(self.scope.where(table), ~still_served.exists())
            ).rowcount
        )

    def _hold_deletes(self, staged_rows: sa.TableClause, keys: list[str], held: HeldDeletes) -> int:
        if not held.items:
            return 0
        table, scope = self.table, self.scope
        assert scope is not None
        still_served = sa.select(sa.literal(1)).where(
            *(staged_rows.c[k] == table.c[k] for k in keys)
        )
        # Keys are column names, spelt in the SQL; values are the row's own columns.
        pairs = (x for k in keys for x in (sa.literal_column(f"'{k}'"), table.c[k]))
        item = sa.tuple_(*(table.c[c] for c in held.item_columns))
        reshaped = item.in_(list(held.reshaped)) if held.reshaped else sa.false()
        lost = sa.select(
            sa.cast(sa.literal(held.checkpoint_id), sa.BigInteger),
            sa.cast(sa.literal(table.name), sa.Text),
            sa.func.jsonb_build_object(*pairs),
            reshaped,
        ).where(
            scope.where(table),
            item.in_(list(held.items)),
            ~still_served.exists(),
        )
        pending = tables.sync_pending_deletes
        insert = sa.dialects.postgresql.insert(pending).from_select(
            ["checkpoint_id", "table_name", "row_key", "settings_changed"], lost
        )
        # Counted from RETURNING: for INSERT ... SELECT ... ON CONFLICT the driver's
        # rowcount can be -1 (unknown), which summed over chunks gave negative deletes.
        held_back = insert.on_conflict_do_nothing().returning(pending.c.checkpoint_id)
        return len(self.conn.execute(held_back).all())


def scratch(
    conn: sa.Connection, name: str, query: sa.Select[Any], columns: Sequence[sa.Column]
) -> sa.TableClause:
    """`query`'s rows (typed as `columns`) in a temporary table dropped at commit, analysed:
    a set one transaction joins several times is computed once, and planned on its size."""
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    listed = ", ".join(f"{_quote(conn, c.name)} {c.type.compile(conn.dialect)}" for c in columns)
    conn.execute(sa.text(f"CREATE TEMP TABLE {name} ({listed}) ON COMMIT DROP"))
    temp = sa.table(name, *(sa.column(c.name, c.type) for c in columns))
    conn.execute(sa.insert(temp).from_select([c.name for c in columns], query))
    conn.execute(sa.text(f"ANALYZE {name}"))
    return temp


def doomed(
    table: sa.Table,
    scope: PartitionScope,
    item_columns: Sequence[str],
    alive: sa.FromClause,
    checkpoint_id: int,
) -> sa.Select[Any]:
    """Primary keys of the rows of `table` a completed pass deletes: what its chunks held
    back, and the rows of the scope whose item is not in `alive` (a customer no longer
    found, a pair no longer eligible), which no chunk answered for.

    Two plain joins rather than one condition with an OR of two subqueries: the planner
    can only run such an OR once per row of the table, reading the held-back keys again
    for each (quadratic in a pass that changed much). As a semi-join on the keys and an
    anti-join on the items, each side is read once.
    """
    key = list(table.primary_key.columns)
    pending = tables.sync_pending_deletes
    held_keys = sa.select(*(sa.cast(pending.c.row_key[c.name].astext, c.type) for c in key)).where(
        pending.c.checkpoint_id == checkpoint_id, pending.c.table_name == table.name
    )
    held = sa.select(*key).where(scope.where(table), sa.tuple_(*key).in_(held_keys))
    still = sa.select(sa.literal(1)).where(
        *(column == table.c[c] for column, c in zip(alive.c, item_columns, strict=True))
    )
    gone = sa.select(*key).where(scope.where(table), ~still.exists())
    return sa.union(held, gone)


def replaced(table: sa.Table, checkpoint_id: int) -> sa.ColumnElement[bool]:
    """Rows of `table` a pass holds for deletion because their item was fetched under other
    settings (another API version): a new shape replacing the old, which no drop guard
    should count as rows lost."""
    return _pending(table, checkpoint_id, tables.sync_pending_deletes.c.settings_changed)


def _pending(table: sa.Table, checkpoint_id: int, *conditions: sa.ColumnElement[bool]) -> sa.Exists:
    """Whether a row of `table` is held for deletion by the pass of `checkpoint_id`."""
    pending = tables.sync_pending_deletes
    return sa.exists().where(
        pending.c.checkpoint_id == checkpoint_id,
        pending.c.table_name == table.name,
        *conditions,
        *(
            table.c[c.name] == sa.cast(pending.c.row_key[c.name].astext, c.type)
            for c in table.primary_key.columns
        ),
    )


def merge(
    conn: sa.Connection,
    table: sa.Table,
    rows: Iterable[Mapping[str, Any]],
    *,
    run_id: str,
    scope: PartitionScope | None = None,
    columns: Iterable[str] | None = None,
) -> MergeResult:
    """Merge `rows` into `table`: insert new, update changed, keep unchanged.

    With `scope` (a set of partitions), rows of the table inside the scope that the batch
    lacks are deleted, and a batch row outside the scope is an error.
    Without it, nothing is deleted (plain upsert). With `columns`, the batch supplies
    only those (plus the key) and other columns of existing rows are kept.
    """
    staged = StagedMerge(conn, table, run_id=run_id, scope=scope, columns=columns)
    staged.add(rows)
    return staged.finish()


def append(
    conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], *, run_id: str
) -> int:
    """Append rows to a log table (api_events): COPY straight in, stamped with the run."""
    if not rows:
        return 0
    columns = data_columns(table)
    names = [c.name for c in columns]
    column_list = ", ".join(_quote(conn, n) for n in [*names, "synced_at", "run_id"])
    now = conn.scalar(sa.text("SELECT now()"))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    count = 0
    with cursor.copy(f"COPY {_qualified(conn, table)} ({column_list}) FROM STDIN") as copy:
        for values in _encode(rows, table, columns):
            copy.write_row((*values, now, run_id))
            count += 1
    return count
