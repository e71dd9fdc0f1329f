"""The local Dagster home: created once, and a broken store named in one line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from loyalty_sync import instance


def test_store_with_two_schema_versions_is_named(tmp_path: Path) -> None:
    db = tmp_path / "history" / "runs.db"
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.executemany("INSERT INTO alembic_version VALUES (?)", [("abc",), ("abc",)])
    text = instance.broken_store(tmp_path)
    assert text is not None
    assert str(db) in text and "2 schema versions (abc, abc)" in text
    assert "DELETE FROM alembic_version" in text
    assert "\n" not in text


def test_healthy_home_is_not_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    with instance.local_instance() as opened:
        assert opened.get_runs() == []
    assert (tmp_path / "dagster" / "dagster.yaml").exists()
    assert instance.broken_store(tmp_path / "dagster") is None
