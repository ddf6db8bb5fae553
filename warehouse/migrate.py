"""Numbered schema migrations, applied in order and recorded in ``schema_migrations``.

The schema lives in ``warehouse/migrations/NNN_name.sql`` files shipped with the package
(read through ``importlib.resources`` so an installed wheel finds them too). Each pending
file runs in its own transaction together with the row that records it, so a crash
mid-migration leaves the file at the previous version, never half-migrated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

import duckdb

from silkwatch.errors import StorageError

__all__ = [
    "Migration",
    "applied_versions",
    "apply_migrations",
    "available_migrations",
    "database_path",
    "schema_version",
]

_FILE_NAME = re.compile(r"^(\d{3})_[A-Za-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # the file name, e.g. "001_initial.sql"
    sql: str


def available_migrations(package: str = "warehouse") -> list[Migration]:
    """Every ``migrations/NNN_*.sql`` file of ``package``, in version order.

    Two files with the same number are a merge mistake that would make the schema depend
    on directory order, so they are refused.
    """
    folder = resources.files(package).joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise StorageError(
                f"{package}/migrations",
                f"two migrations numbered {version:03d}: {found[version].name} and {entry.name}",
            )
        found[version] = Migration(version, entry.name, entry.read_text("utf-8"))
    return [found[v] for v in sorted(found)]


def applied_versions(conn: duckdb.DuckDBPyConnection) -> set[int]:
    """Versions recorded in ``schema_migrations`` (empty for a new file).

    Asking the table directly and treating "no such table" as a new file is the cheapest
    check: catalog functions (information_schema, duckdb_tables()) cost tens of
    milliseconds on first use, paid on every open of a short-lived writer.
    """
    try:
        rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
    except duckdb.CatalogException:
        return set()
    return {v for (v,) in rows}


def schema_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The highest applied migration number; 0 for a database with no schema yet."""
    return max(applied_versions(conn), default=0)


def database_path(conn: duckdb.DuckDBPyConnection) -> str:
    """The file behind ``conn``, for error messages (``:memory:`` for in-memory databases)."""
    try:
        row = conn.execute(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchone()
    except duckdb.Error:  # a broken connection must not hide the error being reported
        return "(database)"
    return str(row[0]) if row and row[0] else ":memory:"


def apply_migrations(
    conn: duckdb.DuckDBPyConnection, migrations: list[Migration] | None = None
) -> list[int]:
    """Apply every migration not yet recorded, each in its own transaction.

    Returns the versions applied by this call (empty when the file is up to date).
    A gap is filled too: a migration numbered lower than one already applied (two
    branches adding 002 and 003 in either order) still runs once.
    """
    migrations = available_migrations() if migrations is None else migrations
    done = applied_versions(conn)
    applied: list[int] = []
    for migration in migrations:
        if migration.version in done:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                [migration.version, migration.name, datetime.now(UTC)],
            )
            conn.execute("COMMIT")
        except duckdb.Error as exc:
            conn.execute("ROLLBACK")
            raise StorageError(
                database_path(conn), f"migration {migration.name} failed: {exc}"
            ) from exc
        applied.append(migration.version)
    return applied
