"""open_db: creates and migrates for writing, never creates for reading, waits when busy."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from silkwatch.errors import DatabaseBusyError, StorageError
from warehouse.db import open_db
from warehouse.migrate import available_migrations, schema_version
from warehouse.query import run_query

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from warehouse.db import open_db
    with open_db(Path(sys.argv[1])):
        print("holding", flush=True)
        if sys.argv[2] == "until-stdin-closes":
            sys.stdin.read()
        else:
            time.sleep(float(sys.argv[2]))
    print("released", flush=True)
    """
)


@contextmanager
def _writer_process(db: Path, hold: str = "until-stdin-closes") -> Iterator[subprocess.Popen]:
    """Another process holding the database open for writing, as `silkwatch run` does."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db), hold],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "holding"
        yield proc
    finally:
        if proc.poll() is None:
            proc.communicate(timeout=30)


def test_write_mode_creates_folders_file_and_schema(tmp_path: Path):
    db = tmp_path / "deep" / "er" / "sw.duckdb"
    with open_db(db) as conn:
        assert schema_version(conn) == available_migrations()[-1].version
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)
    assert db.is_file()


def test_read_only_on_missing_file_says_run_first_and_creates_nothing(tmp_path: Path):
    db = tmp_path / "nothing" / "sw.duckdb"
    message = "no database yet: run `silkwatch run` first"
    with pytest.raises(StorageError, match=message) as info, open_db(db, read_only=True):
        pass
    assert info.value.path == str(db)
    assert not db.parent.exists()


def test_a_file_that_is_not_duckdb_is_a_storage_error_naming_it(tmp_path: Path):
    db = tmp_path / "notes.duckdb"
    db.write_text("not a database\n" * 500)
    with pytest.raises(StorageError) as info, open_db(db):
        pass
    assert info.value.path == str(db)
    assert not isinstance(info.value, DatabaseBusyError)


def test_connection_is_closed_on_exit(tmp_path: Path):
    with open_db(tmp_path / "sw.duckdb") as conn:
        pass
    with pytest.raises(duckdb.ConnectionException):
        conn.execute("SELECT 1")


def test_times_come_back_in_utc(tmp_path: Path):
    db = tmp_path / "sw.duckdb"
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with open_db(db) as conn:
        conn.execute("INSERT INTO feeds (url, last_fetched_at) VALUES (?, ?)", ["u", when])
    with open_db(db, read_only=True) as conn:
        (got,) = conn.execute("SELECT last_fetched_at FROM feeds").fetchone()
    assert got == when and got.utcoffset().total_seconds() == 0


@pytest.mark.slow
def test_reader_gives_up_with_busy_error_while_another_process_writes(tmp_path: Path):
    db = tmp_path / "sw.duckdb"
    with _writer_process(db):
        with pytest.raises(DatabaseBusyError) as info:
            run_query(db, "SELECT count(*) FROM items", busy_timeout=0.5)
        assert info.value.path == str(db)
        assert "another silkwatch process" in str(info.value)
        assert "try again when it finishes" in str(info.value)
        with pytest.raises(DatabaseBusyError), open_db(db, busy_timeout=0):
            pass


@pytest.mark.slow
def test_reader_waits_for_a_short_write_to_finish(tmp_path: Path):
    db = tmp_path / "sw.duckdb"
    with _writer_process(db, hold="0.3") as proc:
        result = run_query(db, "SELECT count(*) AS n FROM feeds", busy_timeout=60)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "released"
    assert result.rows == [(0,)]


_SAVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from warehouse.db import open_db
    db, name, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    for i in range(rounds):  # batch after batch, reopening at once, as an ingest writer does
        with open_db(db, busy_timeout=3) as conn:
            conn.execute("INSERT INTO feeds (url) VALUES (?)", [f"{name}-{i}"])
            conn.execute("CHECKPOINT")
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_two_writers_saving_back_to_back_both_get_their_turns(tmp_path: Path):
    """Two shards sharing a file: neither may starve the other out of its busy_timeout."""
    db = tmp_path / "sw.duckdb"
    with open_db(db):
        pass
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(db), name, "300"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("a", "b")
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outputs
    with open_db(db, read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM feeds").fetchone() == (600,)
