"""A consistent copy of the warehouse in a new DuckDB file, taken while silkwatch keeps running.

Copying the ``.duckdb`` file with ``cp`` is only safe when no process has it open (and
any ``.wal`` file beside it must go along). Instead this attaches the live file read-only
(waiting politely while a run writes, like every reader) and copies every table, view and
sequence into a new file with DuckDB's ``COPY FROM DATABASE``: one read transaction, so the
copy is a snapshot, and sequences keep their positions so a restored copy keeps working.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from silkwatch.errors import StorageError
from warehouse.db import retry_while_locked
from warehouse.sqltext import quote_literal

__all__ = ["backup_database"]


def backup_database(source: Path, dest: Path, *, busy_timeout: float = 10.0) -> int:
    """Copy ``source`` into the new file ``dest``; return the number of items copied."""
    source, dest = Path(source), Path(dest)
    if not source.exists():
        raise StorageError(str(source), "no database yet: run `silkwatch run` first")
    if dest.exists():
        raise StorageError(str(dest), "already exists; back up to a new file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect()  # in memory: it only hosts the two attached files
    try:
        retry_while_locked(
            lambda: conn.execute(f"ATTACH {quote_literal(str(source))} AS src (READ_ONLY)"),
            source,
            read_only=True,
            busy_timeout=busy_timeout,
        )
        try:
            conn.execute(f"ATTACH {quote_literal(str(dest))} AS dst")
            conn.execute("COPY FROM DATABASE src TO dst")
            row = conn.execute("SELECT count(*) FROM dst.items").fetchone()
        except duckdb.Error as exc:
            raise StorageError(str(dest), f"backup failed: {exc}") from exc
        return int(row[0]) if row else 0
    finally:
        conn.close()
