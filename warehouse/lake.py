"""DuckLake: one warehouse that many silkwatch writers publish to and analysts query.

A DuckDB file takes one writer. A DuckLake keeps its table metadata in a catalog database
(SQLite for processes on one host or one shared disk, PostgreSQL for many machines) and its
rows in Parquet files under a data path, and any number of DuckDB processes write to it at
once, each commit a numbered snapshot. silkwatch keeps the local DuckDB file as its working
store (its upserts need primary keys, which DuckLake does not have) and publishes what is
new there to the lake (``warehouse/lake_publish.py``).

DuckDB's ``INSTALL`` downloads extensions from the internet, so the ducklake, sqlite and
postgres extensions come from PyPI packages (``pip install 'silkwatch[lake]'``) and are
loaded from there by path.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import sqlite3
from pathlib import Path

import duckdb

from silkwatch.config import LakeSettings
from silkwatch.errors import LakeError
from warehouse.db import retry_transient
from warehouse.sqltext import quote_ident, quote_literal

__all__ = [
    "LAKE_TABLES",
    "attach_lake",
    "extension_file",
    "is_lake_busy",
    "lake_identity",
    "sync_lake_schema",
]

#: local tables mirrored in the lake; views over them are mirrored too
LAKE_TABLES: tuple[str, ...] = ("feeds", "items", "item_themes")

# A SQLite catalog answers "database is locked" while another process commits (DuckLake does
# not wait for it); DuckLake reports a commit that lost a race with another writer; and two
# writers creating a new PostgreSQL catalog at once collide on its unique indexes.
_BUSY = re.compile(
    r"database is locked|database is busy|conflict|Failed to commit DuckLake transaction"
    r"|Failed to initialize DuckLake[\s\S]*(already exists|duplicate key)",
    re.IGNORECASE,
)
_VIEW_HEAD = re.compile(r"^\s*CREATE\s+VIEW\s+.+?\s+AS\s+", re.IGNORECASE | re.DOTALL)
_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def lake_identity(catalog: str) -> str:
    """The catalog as shown in messages and recorded locally: any password replaced."""
    return _PASSWORD.sub(r"\1***", catalog)


def is_lake_busy(exc: BaseException) -> bool:
    """True for the errors another writer causes, which go away when tried again."""
    return isinstance(exc, duckdb.Error) and bool(_BUSY.search(str(exc)))


def extension_file(name: str, catalog: str = "") -> Path:
    """The ``.duckdb_extension`` file of extension ``name`` for the running DuckDB."""
    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise LakeError(
            lake_identity(catalog) or "lake",
            f"the DuckDB extension {name!r} is not installed: pip install 'silkwatch[lake]'",
        )
    folder = Path(spec.origin).parent / "extensions"
    path = folder / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        built_for = sorted(p.name.lstrip("v") for p in folder.iterdir()) if folder.is_dir() else []
        raise LakeError(
            lake_identity(catalog) or "lake",
            f"the {package} package holds {name} for DuckDB {', '.join(built_for) or '(none)'}, "
            f"but DuckDB {duckdb.__version__} is installed; install matching versions "
            "(pip install 'silkwatch[lake]')",
        )
    return path


def _catalog_kind(catalog: str) -> str:
    return "sqlite_scanner" if catalog.startswith("sqlite:") else "postgres_scanner"


def attach_lake(
    conn: duckdb.DuckDBPyConnection, lake: LakeSettings, *, alias: str, read_only: bool = False
) -> None:
    """Attach the configured lake to ``conn`` as ``alias``.

    Writing creates the SQLite catalog's folder and a local data folder; reading never
    creates anything, so a missing catalog means nothing was published yet. While other
    writers hold a SQLite catalog, attaching is retried for ``lake.busy_timeout_seconds``.
    """
    shown = lake_identity(lake.catalog)
    for name in ("ducklake", _catalog_kind(lake.catalog)):
        try:
            conn.execute(f"LOAD {quote_literal(str(extension_file(name, lake.catalog)))}")
        except duckdb.Error as exc:
            raise LakeError(shown, f"cannot load the {name} extension: {exc}") from None
    if lake.catalog.startswith("sqlite:"):
        catalog_file = Path(lake.catalog.removeprefix("sqlite:"))
        if read_only and not catalog_file.exists():
            raise LakeError(shown, "no lake yet: run `silkwatch lake publish` first")
        if not read_only:
            _make_folder(catalog_file.parent, shown, "lake.catalog")
            _use_wal(catalog_file, shown)
    if not read_only and "://" not in lake.data_path:
        _make_folder(Path(lake.data_path), shown, "lake.data_path")
    options = [f"DATA_PATH {quote_literal(lake.data_path)}"]
    if read_only:
        options.append("READ_ONLY")
    statement = (
        f"ATTACH {quote_literal('ducklake:' + lake.catalog)} AS {quote_ident(alias)} "
        f"({', '.join(options)})"
    )
    try:
        retry_transient(
            lambda: conn.execute(statement),
            is_transient=is_lake_busy,
            timeout=lake.busy_timeout_seconds,
        )
    except duckdb.Error as exc:
        raise LakeError(shown, f"cannot attach the lake: {lake_identity(str(exc))}") from None


def _use_wal(catalog_file: Path, shown: str) -> None:
    """Put a SQLite catalog in WAL mode, once, before DuckLake first opens it.

    In SQLite's default journal mode a process that reads the catalog blocks every other
    process's commit, so concurrent writers spend their time retrying; in WAL mode readers
    never block and a commit waits only for another commit. The mode is stored in the file.
    """
    try:
        with contextlib.closing(sqlite3.connect(catalog_file, timeout=10)) as db:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as exc:
        raise LakeError(shown, f"lake.catalog: cannot open the SQLite catalog: {exc}") from None


def _make_folder(folder: Path, shown: str, setting: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LakeError(shown, f"{setting}: cannot create {folder}: {exc}") from None


def _columns(conn: duckdb.DuckDBPyConnection, database: str, table: str) -> dict[str, str]:
    rows = conn.execute(
        """
        SELECT column_name, data_type FROM duckdb_columns()
        WHERE database_name = ? AND schema_name = 'main' AND table_name = ?
        ORDER BY column_index
        """,
        [database, table],
    ).fetchall()
    return dict(rows)


def _views(conn: duckdb.DuckDBPyConnection, database: str) -> dict[str, str]:
    rows = conn.execute(
        """
        SELECT view_name, sql FROM duckdb_views()
        WHERE database_name = ? AND schema_name = 'main' AND NOT internal
        """,
        [database],
    ).fetchall()
    return dict(rows)


def sync_lake_schema(conn: duckdb.DuckDBPyConnection, alias: str, local: str) -> list[str]:
    """Give the lake the local tables' columns and views; return what it changed.

    Tables are created from the local ones without their constraints (DuckLake has no keys),
    columns added by later local migrations are added to the lake, and the analyst views
    (``latest_scores``, ``matches``) are created from the local definitions, so the SQL
    that works on a DuckDB file works on the lake. Nothing is dropped.
    """
    changes: list[str] = []
    lake_q, local_q = quote_ident(alias), quote_ident(local)
    for table in LAKE_TABLES:
        have = _columns(conn, alias, table)
        if not have:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {lake_q}.main.{quote_ident(table)} AS "
                f"SELECT * FROM {local_q}.main.{quote_ident(table)} WITH NO DATA"
            )
            changes.append(f"created table {table}")
            continue
        for column, data_type in _columns(conn, local, table).items():
            if column not in have:
                conn.execute(
                    f"ALTER TABLE {lake_q}.main.{quote_ident(table)} "
                    f"ADD COLUMN {quote_ident(column)} {data_type}"
                )
                changes.append(f"added column {table}.{column}")
    lake_views = _views(conn, alias)
    for name, sql in _views(conn, local).items():
        if lake_views.get(name) != sql:
            # a view binds its tables in its own catalog, so the lake's view reads the lake
            body = _VIEW_HEAD.sub("", sql, count=1)
            conn.execute(f"CREATE OR REPLACE VIEW {lake_q}.main.{quote_ident(name)} AS {body}")
            changes.append(f"view {name}")
    return changes
