"""`silkwatch backup DEST`: a consistent copy that keeps working as a database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
from click.testing import CliRunner

from silkwatch.cli import cli
from silkwatch.config import load_settings
from warehouse.db import open_db


def test_backup_copies_tables_views_and_sequence_positions(write_config, tmp_path: Path):
    config = write_config('[storage]\ndatabase = "sw.duckdb"\n')
    db = load_settings(config, environ={}).storage.database
    now = datetime(2026, 3, 1, tzinfo=UTC)
    with open_db(db) as conn:
        for _ in range(3):
            conn.execute(
                "INSERT INTO fetch_log (feed_url, fetched_at, status) VALUES ('u', ?, 'ok')", [now]
            )
        conn.execute(
            "INSERT INTO items (item_id, feed_url, guid, title, summary, fetched_at) "
            "VALUES ('i1', 'u', 'g1', 'a title', '', ?)",
            [now],
        )
    dest = tmp_path / "backups" / "sw-copy.duckdb"

    result = CliRunner().invoke(cli, ["backup", str(dest), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "1 items" in result.output

    with open_db(dest) as copy:  # a restored copy is a working warehouse
        assert copy.execute("SELECT count(*) FROM items").fetchone() == (1,)
        copy.execute(
            "INSERT INTO fetch_log (feed_url, fetched_at, status) VALUES ('u', ?, 'ok')", [now]
        )
        ids = [r[0] for r in copy.execute("SELECT id FROM fetch_log ORDER BY id").fetchall()]
        assert ids == [1, 2, 3, 4]  # the sequence continued, no key clash
        assert copy.execute("SELECT count(*) FROM matches").fetchone() == (0,)
    with duckdb.connect(str(db), read_only=True) as original:
        assert original.execute("SELECT count(*) FROM fetch_log").fetchone() == (3,)

    again = CliRunner().invoke(cli, ["backup", str(dest), "--config", str(config)])
    assert again.exit_code == 1
    assert "already exists" in again.output
