"""Publishing the local DuckDB file's new rows to the shared DuckLake.

Each writer (a shard, a machine) owns its DuckDB file and publishes from it: new items and
scores are appended, feed health rows are replaced by newer ones. What was published is
remembered locally (``lake_published_*``), and every lake write is a ``MERGE`` on the
row's key, so a publish interrupted anywhere is simply repeated: nothing lost, nothing
twice. Rows go in transactions of ``lake.batch_rows``, each one lake snapshot with this
writer as its author, so a first publish of a large file shows progress and a failure
keeps what was already committed.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from silkwatch.config import LakeSettings
from silkwatch.errors import LakeError
from warehouse.db import open_db, retry_transient
from warehouse.lake import attach_lake, is_lake_busy, lake_identity, sync_lake_schema
from warehouse.sqltext import quote_ident

__all__ = ["LakePublish", "default_writer", "pending_counts", "publish_to_lake"]

ALIAS = "silkwatch_lake"

#: (done, total) for one table, e.g. ("items", 50_000, 120_000)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LakePublish:
    lake: str
    writer: str
    items: int
    scores: int
    feeds: int
    snapshot_id: int | None
    elapsed_seconds: float


@dataclass(frozen=True)
class _Keyed:
    """A table published by key, with the local ledger that remembers what went."""

    table: str
    ledger: str
    keys: tuple[str, ...]
    order_by: str


_ITEMS = _Keyed("items", "lake_published_items", ("item_id",), "fetched_at")
_SCORES = _Keyed(
    "item_themes",
    "lake_published_scores",
    ("item_id", "theme", "model", "themes_version"),
    "scored_at",
)


def default_writer(database: Path) -> str:
    """HOST:FILE names a writer in the lake's snapshot list when ``lake.writer`` is empty."""
    return f"{socket.gethostname()}:{Path(database).name}"


def _unpublished(spec: _Keyed, local: str) -> str:
    keys = " AND ".join(f"p.{k} = t.{k}" for k in spec.keys)
    return (
        f"FROM {quote_ident(local)}.main.{spec.table} t WHERE NOT EXISTS "
        f"(SELECT 1 FROM {quote_ident(local)}.main.{spec.ledger} p "
        f"WHERE p.lake = $lake AND {keys})"
    )


def _local_name(conn: duckdb.DuckDBPyConnection) -> str:
    """The local file's catalog name, to qualify its tables beside an attached lake."""
    return conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]


def _pending(conn: duckdb.DuckDBPyConnection, spec: _Keyed, local: str, lake: str) -> int:
    row = conn.execute(f"SELECT count(*) {_unpublished(spec, local)}", {"lake": lake}).fetchone()
    return int(row[0])  # type: ignore[index]


def pending_counts(conn: duckdb.DuckDBPyConnection, lake: str) -> dict[str, int]:
    """Rows of the local file not yet published to ``lake``, per table."""
    local = _local_name(conn)
    return {spec.table: _pending(conn, spec, local, lake) for spec in (_ITEMS, _SCORES)}


def _in_lake_transaction(
    conn: duckdb.DuckDBPyConnection, lake: LakeSettings, writer: str, message: str, sql: str
) -> int:
    """Run one lake write as its own snapshot, retrying while other writers are committing."""

    def attempt() -> int:
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(f"CALL {ALIAS}.set_commit_message(?, ?)", [writer, message])
            row = conn.execute(sql).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # a failed COMMIT already ended it
                conn.execute("ROLLBACK")
            raise
        return int(row[0]) if row else 0

    return retry_transient(attempt, is_transient=is_lake_busy, timeout=lake.busy_timeout_seconds)


def _publish_keyed(
    conn: duckdb.DuckDBPyConnection,
    spec: _Keyed,
    *,
    local: str,
    lake: LakeSettings,
    lake_id: str,
    writer: str,
    progress: Progress | None,
) -> int:
    local_q = quote_ident(local)
    total_rows = _pending(conn, spec, local, lake_id)
    keys = ", ".join(spec.keys)
    on = " AND ".join(f"t.{k} = s.{k}" for k in spec.keys)
    added = done = 0
    while done < total_rows:
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE lake_batch AS SELECT {keys} "
            f"{_unpublished(spec, local)} ORDER BY {spec.order_by}, {keys} LIMIT $n",
            {"lake": lake_id, "n": lake.batch_rows},
        )
        batch = int(conn.execute("SELECT count(*) FROM lake_batch").fetchone()[0])  # type: ignore[index]
        if batch == 0:
            break
        added += _in_lake_transaction(
            conn,
            lake,
            writer,
            f"silkwatch: {batch} rows of {spec.table}",
            f"""
            MERGE INTO {ALIAS}.main.{spec.table} AS t
            USING (SELECT * FROM {local_q}.main.{spec.table} SEMI JOIN temp.main.lake_batch
                   USING ({keys})) AS s
            ON {on}
            WHEN NOT MATCHED THEN INSERT BY NAME
            """,
        )
        # only now, after the lake committed: a crash before this line re-offers the batch
        conn.execute(
            f"INSERT INTO {local_q}.main.{spec.ledger} (lake, {keys}) "
            f"SELECT $lake, {keys} FROM temp.main.lake_batch ON CONFLICT DO NOTHING",
            {"lake": lake_id},
        )
        done += batch
        if progress:
            progress(spec.table, done, total_rows)
    conn.execute("DROP TABLE IF EXISTS temp.main.lake_batch")
    return added


def _publish_feeds(
    conn: duckdb.DuckDBPyConnection, *, local: str, lake: LakeSettings, writer: str
) -> int:
    """Feed rows: new feeds are added, and a newer fetch replaces the lake's row, whoever wrote it.

    Feeds no writer has fetched yet are published too, so the lake's ``matches`` view can
    name every source.
    """
    return _in_lake_transaction(
        conn,
        lake,
        writer,
        "silkwatch: feed health",
        f"""
        MERGE INTO {ALIAS}.main.feeds AS t
        USING {quote_ident(local)}.main.feeds AS s
        ON t.url = s.url
        WHEN MATCHED AND s.last_fetched_at IS NOT NULL
                     AND (t.last_fetched_at IS NULL OR s.last_fetched_at > t.last_fetched_at)
            THEN UPDATE SET *
        WHEN NOT MATCHED THEN INSERT BY NAME
        """,
    )


def _record(
    conn: duckdb.DuckDBPyConnection,
    local: str,
    attempt: dict[str, object],
    counts: dict[str, int],
    clock: float,
    *,
    snapshot: int | None = None,
    error: str | None = None,
) -> float:
    """Add the attempt to ``lake_publishes``; return its elapsed seconds."""
    elapsed = time.perf_counter() - clock
    with contextlib.suppress(duckdb.Error):  # a failed attempt's row is best effort
        if error is not None:
            conn.execute("ROLLBACK")  # an open transaction would refuse the insert
    conn.execute(
        f"""
        INSERT INTO {quote_ident(local)}.main.lake_publishes
            (started_at, lake, writer, status, items, scores, feeds, snapshot_id, elapsed_ms,
             error)
        VALUES ($started_at, $lake, $writer, $status, $items, $scores, $feeds,
                $snapshot_id, $elapsed_ms, $error)
        """,
        {
            **attempt,
            **counts,
            "status": "ok" if error is None else "failed",
            "snapshot_id": snapshot,
            "elapsed_ms": round(elapsed * 1000),
            "error": error,
        },
    )
    return elapsed


def publish_to_lake(
    database: Path,
    lake: LakeSettings,
    *,
    busy_timeout: float = 10.0,
    progress: Progress | None = None,
) -> LakePublish:
    """Publish every row of ``database`` that the lake does not have yet.

    Every attempt is recorded in the local ``lake_publishes`` table; a failure raises
    ``LakeError`` naming the catalog, and leaves the unpublished rows for the next call.
    """
    lake_id = lake_identity(lake.catalog)
    writer = lake.writer or default_writer(database)
    attempt = {"started_at": datetime.now(UTC), "lake": lake_id, "writer": writer}
    clock = time.perf_counter()
    counts = {"items": 0, "scores": 0, "feeds": 0}
    with open_db(database, busy_timeout=busy_timeout) as conn:
        local = _local_name(conn)
        try:
            attach_lake(conn, lake, alias=ALIAS)
            retry_transient(
                lambda: sync_lake_schema(conn, ALIAS, local),
                is_transient=is_lake_busy,
                timeout=lake.busy_timeout_seconds,
            )
            common = {"local": local, "lake": lake, "writer": writer}
            for spec, key in ((_ITEMS, "items"), (_SCORES, "scores")):
                counts[key] = _publish_keyed(
                    conn, spec, lake_id=lake_id, progress=progress, **common
                )
            counts["feeds"] = _publish_feeds(conn, **common)
            row = conn.execute(f"SELECT id FROM {ALIAS}.current_snapshot()").fetchone()
            snapshot = int(row[0]) if row else None
        except (duckdb.Error, LakeError) as exc:
            error = (
                exc
                if isinstance(exc, LakeError)
                else LakeError(lake_id, f"publish failed: {lake_identity(str(exc))}")
            )
            with contextlib.suppress(duckdb.Error):  # the raised error still says it all
                _record(conn, local, attempt, counts, clock, error=str(error))
            raise error from None
        finally:
            with contextlib.suppress(duckdb.Error):  # gone already if the connection broke
                conn.execute(f"DETACH DATABASE IF EXISTS {ALIAS}")
        elapsed = _record(conn, local, attempt, counts, clock, snapshot=snapshot)
    return LakePublish(lake_id, writer, **counts, snapshot_id=snapshot, elapsed_seconds=elapsed)
