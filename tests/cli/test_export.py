"""`silkwatch export --parquet`: Hive partitions per table and UTC day; re-exports replace days."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
from click.testing import CliRunner

from silkwatch.cli import cli
from silkwatch.config import load_settings
from warehouse.db import open_db

ITEMS = [  # (item_id, fetched_at)
    ("a", datetime(2026, 3, 1, 23, 30, tzinfo=UTC)),
    ("b", datetime(2026, 3, 2, 0, 30, tzinfo=UTC)),
    ("c", datetime(2026, 3, 2, 12, 0, tzinfo=UTC)),
]


def _database(write_config) -> tuple[Path, Path]:
    config = write_config('[storage]\ndatabase = "sw.duckdb"\n')
    settings = load_settings(config, environ={})
    with open_db(settings.storage.database) as conn:
        conn.execute("INSERT INTO feeds (url) VALUES ('https://news.example/feed')")
        for item_id, fetched in ITEMS:
            conn.execute(
                "INSERT INTO items (item_id, feed_url, guid, title, summary, fetched_at) "
                "VALUES (?, 'https://news.example/feed', ?, ?, '', ?)",
                [item_id, item_id, f"title {item_id}", fetched],
            )
    return config, settings.storage.database


def _export(config: Path, out: Path, *extra: str):
    result = CliRunner().invoke(
        cli, ["export", "--config", str(config), "--parquet", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    return result


def test_items_are_partitioned_by_utc_day_and_small_tables_are_single_files(
    write_config, tmp_path: Path
):
    config, _ = _database(write_config)
    out = tmp_path / "parquet"
    result = _export(config, out)
    assert "items: 3 rows in 2 day folders" in result.output
    assert sorted(p.name for p in (out / "items").iterdir()) == ["day=2026-03-01", "day=2026-03-02"]
    assert (out / "feeds.parquet").is_file()
    rows = duckdb.execute(
        "SELECT item_id, CAST(day AS VARCHAR) FROM read_parquet(?, hive_partitioning = true) "
        "ORDER BY item_id",
        [str(out / "items" / "*" / "*.parquet")],
    ).fetchall()
    assert rows == [("a", "2026-03-01"), ("b", "2026-03-02"), ("c", "2026-03-02")]


def test_since_rewrites_only_the_days_it_covers(write_config, tmp_path: Path):
    config, db = _database(write_config)
    out = tmp_path / "parquet"
    _export(config, out, "--table", "items")
    day1 = out / "items" / "day=2026-03-01"
    stamp = {p.name: p.stat().st_mtime_ns for p in day1.iterdir()}

    with open_db(db) as conn:  # a late item for day 2 arrives; day 1 is unchanged
        conn.execute(
            "INSERT INTO items (item_id, feed_url, guid, title, summary, fetched_at) "
            "VALUES ('d', 'https://news.example/feed', 'd', 'late', '', ?)",
            [datetime(2026, 3, 2, 18, 0, tzinfo=UTC)],
        )
    result = _export(config, out, "--table", "items", "--since", "2026-03-02")
    assert "items: 3 rows in 1 day folders" in result.output
    assert {p.name: p.stat().st_mtime_ns for p in day1.iterdir()} == stamp
    count = duckdb.execute(
        "SELECT count(*) FROM read_parquet(?, hive_partitioning = true)",
        [str(out / "items" / "*" / "*.parquet")],
    ).fetchone()
    assert count == (4,)  # every item exactly once: day 2 replaced, not appended to
    assert not (out / "feeds.parquet").exists()  # --table limited the export
