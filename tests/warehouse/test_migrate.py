"""Numbered migrations: applied once each, in order, recorded, and atomic."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from silkwatch.errors import StorageError
from warehouse.db import open_db
from warehouse.migrate import Migration, apply_migrations, available_migrations, schema_version

_TABLE_V1 = Migration(
    1,
    "001_initial.sql",
    "CREATE TABLE schema_migrations "
    "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ);",
)
_TABLE_V2 = Migration(2, "002_a.sql", "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);")
_TABLE_V3 = Migration(3, "003_b.sql", "CREATE TABLE b (y INTEGER);")


def _recorded(conn: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
    return conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()


def test_shipped_migrations_are_numbered_files_in_order():
    migrations = available_migrations()
    assert migrations[0].version == 1 and migrations[0].name == "001_initial.sql"
    versions = [m.version for m in migrations]
    assert versions == sorted(set(versions))
    for m in migrations:
        assert re.fullmatch(rf"{m.version:03d}_\w+\.sql", m.name)
        assert m.sql.strip()


def test_new_file_gets_every_migration_once_and_reopening_applies_nothing(tmp_path: Path):
    db = tmp_path / "sw.duckdb"
    shipped = [(m.version, m.name) for m in available_migrations()]
    with open_db(db) as conn:
        assert _recorded(conn) == shipped
        assert schema_version(conn) == shipped[-1][0]
        assert apply_migrations(conn) == []
    with open_db(db) as conn:
        assert _recorded(conn) == shipped
        (applied_at,) = conn.execute("SELECT min(applied_at) FROM schema_migrations").fetchone()
        assert applied_at is not None


def test_a_gap_is_filled_and_later_files_are_picked_up(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "m.duckdb")) as conn:
        assert schema_version(conn) == 0
        assert apply_migrations(conn, [_TABLE_V1, _TABLE_V3]) == [1, 3]
        assert apply_migrations(conn, [_TABLE_V1, _TABLE_V2, _TABLE_V3]) == [2]
        assert _recorded(conn) == [(1, "001_initial.sql"), (2, "002_a.sql"), (3, "003_b.sql")]
        assert conn.execute("SELECT x FROM a").fetchall() == [(1,)]


def test_a_failing_migration_changes_nothing_and_names_the_file(tmp_path: Path):
    broken = Migration(2, "002_broken.sql", "CREATE TABLE a (x INTEGER); SELEC oops;")
    path = tmp_path / "m.duckdb"
    with duckdb.connect(str(path)) as conn:
        apply_migrations(conn, [_TABLE_V1])
        with pytest.raises(StorageError, match=r"002_broken\.sql") as info:
            apply_migrations(conn, [_TABLE_V1, broken])
        assert info.value.path == str(path)
        assert schema_version(conn) == 1
        tables = conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
        assert ("a",) not in tables
