"""Every column of every table documented where people read it: the assets' column schemas
in the Dagster UI, and Postgres (`psql \\d+`, BI tools), with the same text."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from loyalty_sync.definitions import build_defs
from loyalty_sync.defs.metadata import column_schema
from loyalty_sync.warehouse import tables

NO_CALLS_HOST = {
    "CAPILLARY_BASE_URL": "http://127.0.0.1:9",
    "CAPILLARY_ORG_IDS": "1",
    "CAPILLARY_USERNAME": "till",
    "CAPILLARY_PASSWORD": "never-used",
}
ALL_TABLES = list(tables.metadata.sorted_tables)


def test_every_table_is_covered() -> None:
    names = {t.name for t in ALL_TABLES}
    assert names >= {t.name for t in (*tables.CONTRACT_TABLES, *tables.REPORT_TABLES)}
    assert "api_rate_limits" in names  # bookkeeping too


def test_every_column_has_a_description_in_its_column_schema() -> None:
    for table in ALL_TABLES:
        assert (table.comment or "").strip(), table.name
        for column in column_schema(table).columns:
            assert (column.description or "").strip(), (table.name, column.name)


def test_the_ui_shows_every_stored_assets_columns_described(
    loyalty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A host of its own, so building the definitions starts no simulator; nothing calls it.
    for name, value in NO_CALLS_HOST.items():
        monkeypatch.setenv(name, value)
    graph = build_defs().resolve_asset_graph()
    shown = set()
    for key in graph.get_all_asset_keys():
        schema = graph.get(key).metadata.get("dagster/column_schema")
        if schema is None:
            continue
        schema = getattr(schema, "schema", schema)  # a TableSchema, or its MetadataValue
        shown.add(key.to_user_string())
        table = tables.metadata.tables[f"{tables.SCHEMA}.{key.to_user_string()}"]
        assert [c.name for c in schema.columns] == [c.name for c in table.columns]
        assert all((c.description or "").strip() for c in schema.columns), key
    # sync_runs and api_rate_limits are bookkeeping, not assets: Postgres documents them.
    assert shown == {t.name for t in (*tables.CONTRACT_TABLES, *tables.REPORT_TABLES)} - {
        "sync_runs"
    }


def test_postgres_holds_every_comment(engine: sa.Engine) -> None:
    query = sa.text(
        "SELECT a.attname, col_description(c.oid, a.attnum), obj_description(c.oid, 'pg_class')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " WHERE n.nspname = :schema AND c.relname = :table"
    )
    with engine.connect() as conn:
        for table in ALL_TABLES:
            rows = conn.execute(query, {"schema": tables.SCHEMA, "table": table.name}).all()
            assert {name for name, _, _ in rows} == {c.name for c in table.columns}, table.name
            for name, comment, table_comment in rows:
                assert comment == table.c[name].comment, (table.name, name)
                assert (comment or "").strip(), (table.name, name)
                assert table_comment == table.comment, table.name
