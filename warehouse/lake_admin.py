"""Reading and looking after the shared DuckLake: queries, status, compaction.

Analysts query the lake read-only, attached as ``lake`` and made the default catalog, so
``SELECT … FROM matches`` works there exactly as on a DuckDB file. Each publish adds a few
small Parquet files and snapshots; ``compact_lake`` merges the files and drops old
snapshots, which a busy lake needs now and then (``silkwatch lake compact``, docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb

from silkwatch.config import LakeSettings
from silkwatch.errors import LakeError
from warehouse.db import open_db
from warehouse.lake import LAKE_TABLES, attach_lake, lake_identity
from warehouse.lake_publish import pending_counts
from warehouse.query import QueryResult, fetch_result

__all__ = ["LakeStatus", "compact_lake", "lake_status", "open_lake", "query_lake"]

ALIAS = "lake"


def _connect(lake: LakeSettings, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as ``lake`` and made the default catalog."""
    conn = duckdb.connect()
    try:
        conn.execute("SET TimeZone = 'UTC'")
        attach_lake(conn, lake, alias=ALIAS, read_only=read_only)
        conn.execute(f"USE {ALIAS}")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def open_lake(lake: LakeSettings) -> Iterator[duckdb.DuckDBPyConnection]:
    """Read the lake for the duration of a ``with`` block, as ``open_db`` reads a file.

    Unqualified table and view names resolve in the lake, so code written against the
    local schema (the digest's queries) reads every writer's rows unchanged.
    """
    conn = _connect(lake, read_only=True)
    try:
        yield conn
    finally:
        conn.close()


def query_lake(lake: LakeSettings, sql: str) -> QueryResult:
    """Run ``sql`` read-only against the lake's latest snapshot."""
    with open_lake(lake) as conn:
        return fetch_result(conn, sql, where=lake_identity(lake.catalog), error=LakeError)


@dataclass(frozen=True)
class LakeStatus:
    lake: str
    data_path: str
    snapshot_id: int | None
    snapshot_time: object
    rows: dict[str, int]  # table -> rows in the lake
    files: dict[str, int]  # table -> Parquet data files
    writers: QueryResult  # author, snapshots, last commit
    pending: dict[str, int]  # local rows not yet published (when a database is given)
    last_publish: QueryResult  # this database's latest publish attempts


def lake_status(
    lake: LakeSettings, database: Path | None, *, busy_timeout: float = 10.0
) -> LakeStatus:
    """What the lake holds, who writes to it, and what this database has still to send."""
    lake_id = lake_identity(lake.catalog)
    conn = _connect(lake, read_only=True)
    try:
        snap = conn.execute(
            f"SELECT snapshot_id, snapshot_time FROM {ALIAS}.snapshots() "
            "ORDER BY snapshot_id DESC LIMIT 1"
        ).fetchone()
        present = {r[0] for r in conn.execute("SHOW TABLES").fetchall()}
        rows = {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # type: ignore[index]
            for t in LAKE_TABLES
            if t in present
        }
        files = {
            name: int(count)
            for name, count in conn.execute(
                f"SELECT table_name, file_count FROM ducklake_table_info('{ALIAS}')"
            ).fetchall()
        }
        writers = fetch_result(
            conn,
            f"""
            SELECT author AS writer, count(*) AS snapshots, max(snapshot_time) AS last_commit
            FROM {ALIAS}.snapshots() WHERE author IS NOT NULL
            GROUP BY author ORDER BY last_commit DESC
            """,
            where=lake_id,
            error=LakeError,
        )
    finally:
        conn.close()
    pending: dict[str, int] = {}
    last = QueryResult(columns=[], rows=[])
    if database is not None and Path(database).exists():
        with open_db(database, read_only=True, busy_timeout=busy_timeout) as local:
            pending = pending_counts(local, lake_id)
            last = fetch_result(
                local,
                """
                SELECT started_at, status, items, scores, feeds, snapshot_id, elapsed_ms, error
                FROM lake_publishes WHERE lake = $lake
                ORDER BY started_at DESC LIMIT 5
                """,
                where=str(database),
                params={"lake": lake_id},
            )
    return LakeStatus(
        lake=lake_id,
        data_path=lake.data_path,
        snapshot_id=snap[0] if snap else None,
        snapshot_time=snap[1] if snap else None,
        rows=rows,
        files=files,
        writers=writers,
        pending=pending,
        last_publish=last,
    )


@dataclass(frozen=True)
class Compaction:
    files_before: int
    files_after: int
    snapshots_expired: int
    files_deleted: int


def compact_lake(lake: LakeSettings, *, keep: timedelta) -> Compaction:
    """Merge small data files, expire snapshots older than ``keep``, delete unused files.

    Time travel to an expired snapshot is no longer possible, which is the point: a lake
    published to every 15 minutes gains about a hundred snapshots a day per writer.
    """
    conn = _connect(lake, read_only=False)

    def file_count() -> int:
        row = conn.execute(f"SELECT sum(file_count) FROM ducklake_table_info('{ALIAS}')").fetchone()
        return int(row[0] or 0) if row else 0

    try:
        before = file_count()
        conn.execute(f"CALL ducklake_flush_inlined_data('{ALIAS}')")
        conn.execute(f"CALL ducklake_merge_adjacent_files('{ALIAS}')")
        expired = conn.execute(
            f"CALL ducklake_expire_snapshots('{ALIAS}', older_than => now() - ?::INTERVAL)",
            [keep],
        ).fetchall()
        deleted = conn.execute(
            f"CALL ducklake_cleanup_old_files('{ALIAS}', cleanup_all => true)"
        ).fetchall()
        return Compaction(before, file_count(), len(expired), len(deleted))
    except duckdb.Error as exc:
        raise LakeError(lake_identity(lake.catalog), f"compaction failed: {exc}") from None
    finally:
        conn.close()
