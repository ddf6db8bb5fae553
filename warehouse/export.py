"""Export the warehouse to Parquet, partitioned by UTC day, for tools that outgrow one DuckDB file.

Large tables are written as ``DIR/<table>/day=YYYY-MM-DD/data_0.parquet`` (Hive partitioning,
which DuckDB, Spark, Polars and Athena all read), small ones as ``DIR/<table>.parquet``.
An export is idempotent per day: the day folders it writes are replaced, other days are
left alone, so ``--since yesterday`` from a daily job keeps a growing archive correct.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from warehouse.sqltext import quote_ident, quote_literal

__all__ = ["PARTITIONED", "SNAPSHOT", "ExportedTable", "export_parquet"]

#: table -> the timestamp column whose UTC day names the partition
PARTITIONED: dict[str, str] = {
    "items": "fetched_at",
    "item_themes": "scored_at",
    "fetch_log": "fetched_at",
}
#: small tables written whole each time
SNAPSHOT: tuple[str, ...] = ("feeds", "alerts_sent", "digests_sent")


@dataclass(frozen=True)
class ExportedTable:
    table: str
    rows: int
    path: Path
    days: tuple[str, ...] = ()  # partitions written, e.g. ("2026-11-23",)


def _existing_tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def export_parquet(
    conn: duckdb.DuckDBPyConnection,
    out_dir: Path,
    *,
    since: date | None = None,
    tables: tuple[str, ...] | None = None,
) -> list[ExportedTable]:
    """Write the chosen tables (default: all known ones present) under ``out_dir``.

    ``since`` limits partitioned tables to days on or after it (UTC); snapshot tables are
    always written whole. Table names come from the fixed lists above, never from users.
    """
    wanted = tables or (*PARTITIONED, *SNAPSHOT)
    unknown = [t for t in wanted if t not in PARTITIONED and t not in SNAPSHOT]
    if unknown:
        raise ValueError(f"cannot export unknown table(s) {unknown}")
    present = _existing_tables(conn)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for table in wanted:
        if table not in present:
            continue
        if table in SNAPSHOT:
            path = out_dir / f"{table}.parquet"
            rows = conn.execute(
                f"COPY (SELECT * FROM {quote_ident(table)}) TO {quote_literal(str(path))} "
                "(FORMAT parquet)"
            ).fetchone()
            results.append(ExportedTable(table, int(rows[0]) if rows else 0, path))
            continue
        column = quote_ident(PARTITIONED[table])
        day = f"CAST(timezone('UTC', {column}) AS DATE)"
        select = f"SELECT *, {day} AS day FROM {quote_ident(table)} WHERE ? IS NULL OR {day} >= ?"
        params = [since, since]
        days = [
            r[0].isoformat()
            for r in conn.execute(
                f"SELECT DISTINCT day FROM ({select}) ORDER BY day", params
            ).fetchall()
        ]
        path = out_dir / table
        for d in days:  # replace exactly the days we are about to write
            shutil.rmtree(path / f"day={d}", ignore_errors=True)
        count = 0
        if days:
            rows = conn.execute(
                f"COPY ({select}) TO {quote_literal(str(path))} "
                "(FORMAT parquet, PARTITION_BY (day), OVERWRITE_OR_IGNORE)",
                params,
            ).fetchone()
            count = int(rows[0]) if rows else 0
        results.append(ExportedTable(table, count, path, tuple(days)))
    return results
