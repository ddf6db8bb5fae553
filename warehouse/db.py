"""Opening the DuckDB file: create and migrate it for writing, wait politely when it is busy.

DuckDB lets one process open a file for writing and then blocks every other process,
readers included. So the ingest writer opens the file only while it has something to
save, and everyone else (``silkwatch sql``, ``feeds status``) retries for a short while
before saying clearly that a run is writing.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

from silkwatch.errors import DatabaseBusyError, StorageError
from warehouse.migrate import apply_migrations
from warehouse.turns import take_turn

__all__ = ["is_lock_conflict", "open_db", "retry_transient", "retry_while_locked"]

T = TypeVar("T")

# How DuckDB reports that another process holds the file:
#   IO Error: Could not set lock on file "/x.duckdb": Conflicting lock is held in
#   /usr/bin/python3.11 (PID 7435). See also https://duckdb.org/docs/current/connect/concurrency
_LOCK_CONFLICT = re.compile(r"Could not set lock on file|Conflicting lock", re.IGNORECASE)
_HOLDER_PID = re.compile(r"\(PID (\d+)\)")
_FIRST_WAIT = 0.05
_MAX_WAIT = 0.5


def is_lock_conflict(exc: BaseException) -> bool:
    """True when DuckDB refused to open a file because another process holds its lock."""
    return isinstance(exc, duckdb.IOException) and bool(_LOCK_CONFLICT.search(str(exc)))


def _busy_error(path: Path, exc: BaseException, read_only: bool) -> DatabaseBusyError:
    pid = _HOLDER_PID.search(str(exc))
    holder = f" (PID {pid.group(1)})" if pid else ""
    doing = "writing to it" if read_only else "using it"
    return DatabaseBusyError(
        str(path), f"another silkwatch process{holder} is {doing}; try again when it finishes"
    )


def retry_transient(
    call: Callable[[], T], *, is_transient: Callable[[BaseException], bool], timeout: float
) -> T:
    """Call ``call`` again while it fails with an error ``is_transient`` accepts, for ``timeout`` s.

    Waits start at 50 ms and double up to 0.5 s, with jitter so that several writers
    waiting on the same lock do not retry in step. Any other error, or the last transient
    one when time runs out, is raised unchanged.
    """
    deadline = time.monotonic() + timeout
    wait = _FIRST_WAIT
    while True:
        try:
            return call()
        except Exception as exc:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not is_transient(exc):
                raise
            time.sleep(min(wait * random.uniform(0.5, 1.0), remaining))
            wait = min(wait * 2, _MAX_WAIT)


def retry_while_locked(
    open_file: Callable[[], T], path: Path, *, read_only: bool, busy_timeout: float
) -> T:
    """Call ``open_file`` until no other process holds ``path``'s lock, for ``busy_timeout`` s.

    Any other DuckDB error is a ``StorageError`` naming the file; running out of time is a
    ``DatabaseBusyError`` naming the process that holds it.
    """
    try:
        return retry_transient(open_file, is_transient=is_lock_conflict, timeout=busy_timeout)
    except duckdb.Error as exc:
        if is_lock_conflict(exc):
            raise _busy_error(path, exc, read_only) from None
        raise StorageError(str(path), f"cannot open database: {exc}") from exc


def _connect(path: Path, *, read_only: bool, busy_timeout: float) -> duckdb.DuckDBPyConnection:
    return retry_while_locked(
        lambda: duckdb.connect(str(path), read_only=read_only),
        path,
        read_only=read_only,
        busy_timeout=busy_timeout,
    )


@contextmanager
def open_db(
    path: Path, *, read_only: bool = False, busy_timeout: float = 10.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse for the duration of a ``with`` block.

    Write mode creates the parent folder and the file and applies pending migrations.
    Read-only mode never creates anything: a missing file means no run has happened yet.
    Other silkwatch processes wait their turn (``warehouse/turns.py``); on a lock conflict
    with anything else we retry with short sleeps until ``busy_timeout`` seconds, then
    raise ``DatabaseBusyError``. The connection is closed on exit, so a writer holds the
    file only while it writes. Sessions use UTC, the zone every stored time is in.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise StorageError(str(path), "no database yet: run `silkwatch run` first")
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(str(path), f"cannot create its folder: {exc}") from exc
    with take_turn(path, timeout=busy_timeout):
        conn = _connect(path, read_only=read_only, busy_timeout=busy_timeout)
        try:
            conn.execute("SET TimeZone = 'UTC'")
            if not read_only:
                apply_migrations(conn)
            yield conn
        finally:
            conn.close()
