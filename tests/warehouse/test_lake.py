"""Publishing to a DuckLake: many writers, one lake, every row exactly once.

Real DuckLake with a SQLite catalog and Parquet files in tmp_path; real DuckDB files as the
writers' local stores, seeded by SQL (no model needed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from silkwatch.config import LakeSettings, Settings, load_settings
from silkwatch.errors import LakeError
from warehouse.db import open_db
from warehouse.lake import lake_identity
from warehouse.lake_admin import query_lake
from warehouse.lake_publish import publish_to_lake

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _lake(tmp_path: Path, **extra) -> LakeSettings:
    return LakeSettings(
        catalog=f"sqlite:{tmp_path / 'shared' / 'lake.sqlite'}",
        data_path=str(tmp_path / "shared" / "data"),
        **extra,
    )


def _writer(tmp_path: Path, name: str, lake: LakeSettings) -> Settings:
    settings = load_settings(None, environ={})
    return settings.model_copy(
        update={
            "storage": settings.storage.model_copy(
                update={"database": tmp_path / f"{name}.duckdb"}
            ),
            "lake": lake,
        }
    )


def _items(prefix: str, n: int, feed: str) -> list[dict]:
    return [
        {
            "id": f"{prefix}-{i}",
            "title": f"{prefix} story {i}",
            "feed": feed,
            "feed_name": f"{prefix} desk",
            "scores": {"smart_cities": 0.9 if i % 2 == 0 else 0.1},
        }
        for i in range(n)
    ]


def _count(lake: LakeSettings, sql: str) -> int:
    return query_lake(lake, sql).rows[0][0]


def test_two_writers_publish_into_one_lake_and_analysts_query_both(tmp_path, seed_items):
    lake = _lake(tmp_path)
    east = _writer(tmp_path, "east", lake.model_copy(update={"writer": "east"}))
    west = _writer(tmp_path, "west", lake.model_copy(update={"writer": "west"}))
    seed_items(east, _items("e", 6, "https://east.example/feed.xml"))
    seed_items(west, _items("w", 4, "https://west.example/feed.xml"))

    first = publish_to_lake(east.storage.database, east.lake)
    second = publish_to_lake(west.storage.database, west.lake)

    assert (first.items, first.scores, first.feeds) == (6, 6, 1)
    assert (second.items, second.scores, second.feeds) == (4, 4, 1)
    assert _count(lake, "SELECT count(DISTINCT item_id) FROM items") == 10
    assert _count(lake, "SELECT count(*) FROM items") == 10
    # the analyst views work on the lake as on a file, joining rows of both writers
    by_source = query_lake(
        lake, "SELECT source, count(*) FROM matches GROUP BY source ORDER BY source"
    ).rows
    assert by_source == [("e desk", 3), ("w desk", 2)]
    authors = query_lake(
        lake, "SELECT DISTINCT author FROM snapshots() WHERE author IS NOT NULL ORDER BY 1"
    ).rows
    assert authors == [("east",), ("west",)]


def test_publishing_again_sends_only_new_rows(tmp_path, seed_items):
    lake = _lake(tmp_path, batch_rows=3)
    writer = _writer(tmp_path, "one", lake)
    seed_items(writer, _items("a", 7, "https://a.example/feed.xml"))
    seen: list[tuple[str, int, int]] = []

    first = publish_to_lake(writer.storage.database, lake, progress=lambda *p: seen.append(p))
    again = publish_to_lake(writer.storage.database, lake)
    seed_items(writer, _items("b", 2, "https://a.example/feed.xml"))
    more = publish_to_lake(writer.storage.database, lake)

    assert first.items == 7 and again.items == 0 and more.items == 2
    assert again.scores == 0 and more.scores == 2
    # 7 rows in transactions of 3: progress after each, ending at the total
    assert [done for table, done, _ in seen if table == "items"] == [3, 6, 7]
    assert _count(lake, "SELECT count(*) FROM items") == 9
    with open_db(writer.storage.database, read_only=True) as conn:
        log = conn.execute(
            "SELECT status, items, scores FROM lake_publishes ORDER BY started_at"
        ).fetchall()
    assert log == [("ok", 7, 7), ("ok", 0, 0), ("ok", 2, 2)]


def test_a_crash_between_lake_commit_and_local_ledger_duplicates_nothing(tmp_path, seed_items):
    lake = _lake(tmp_path)
    writer = _writer(tmp_path, "one", lake)
    seed_items(writer, _items("a", 5, "https://a.example/feed.xml"))
    publish_to_lake(writer.storage.database, lake)
    # what a kill after the lake's COMMIT and before the ledger insert leaves behind
    with open_db(writer.storage.database) as conn:
        conn.execute("DELETE FROM lake_published_items")
        conn.execute("DELETE FROM lake_published_scores")

    redo = publish_to_lake(writer.storage.database, lake)

    assert (redo.items, redo.scores) == (0, 0)  # offered again, skipped by the lake's MERGE
    assert _count(lake, "SELECT count(*) FROM items") == 5
    assert _count(lake, "SELECT count(*) FROM item_themes") == 5
    with open_db(writer.storage.database, read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM lake_published_items").fetchone() == (5,)


def test_the_most_recently_fetched_feed_row_wins(tmp_path):
    lake = _lake(tmp_path)
    old, new = _writer(tmp_path, "old", lake), _writer(tmp_path, "new", lake)
    url = "https://shared.example/feed.xml"
    for settings, status, when in ((old, "fetch_error", T0), (new, "ok", T0 + timedelta(hours=1))):
        with open_db(settings.storage.database) as conn:
            conn.execute(
                "INSERT INTO feeds (url, last_status, last_fetched_at) VALUES (?, ?, ?)",
                [url, status, when],
            )

    publish_to_lake(new.storage.database, lake)
    late = publish_to_lake(old.storage.database, lake)  # older news arriving later

    assert late.feeds == 0
    assert query_lake(lake, "SELECT url, last_status FROM feeds").rows == [(url, "ok")]


def test_a_column_added_by_a_local_migration_reaches_the_lake(tmp_path, seed_items):
    lake = _lake(tmp_path)
    writer = _writer(tmp_path, "one", lake)
    seed_items(writer, _items("a", 1, "https://a.example/feed.xml"))
    publish_to_lake(writer.storage.database, lake)
    with open_db(writer.storage.database) as conn:
        conn.execute("ALTER TABLE items ADD COLUMN region VARCHAR")
        conn.execute(
            "INSERT INTO items (item_id, feed_url, guid, title, summary, fetched_at, region) "
            "VALUES ('a-new', 'https://a.example/feed.xml', 'g', 'Story', '', now(), 'Tashkent')"
        )

    publish_to_lake(writer.storage.database, lake)

    rows = query_lake(lake, "SELECT item_id, region FROM items ORDER BY item_id").rows
    assert rows == [("a-0", None), ("a-new", "Tashkent")]


def test_an_unreachable_catalog_is_recorded_and_the_next_publish_catches_up(tmp_path, seed_items):
    lake = _lake(tmp_path)
    writer = _writer(tmp_path, "one", lake)
    seed_items(writer, _items("a", 3, "https://a.example/feed.xml"))
    (tmp_path / "shared").write_text("not a folder")  # the catalog's folder cannot exist

    with pytest.raises(LakeError) as failed:
        publish_to_lake(writer.storage.database, lake)

    assert str(failed.value).startswith(f"sqlite:{tmp_path / 'shared' / 'lake.sqlite'}: ")
    assert "lake.catalog" in str(failed.value)
    with open_db(writer.storage.database, read_only=True) as conn:
        status, error = conn.execute("SELECT status, error FROM lake_publishes").fetchone()
    assert status == "failed" and "lake.catalog" in error

    (tmp_path / "shared").unlink()
    done = publish_to_lake(writer.storage.database, lake)

    assert (done.items, done.scores) == (3, 3)


def test_catalog_passwords_are_never_shown_or_recorded():
    catalog = "postgres:dbname=lake host=db user=sw password=s3cret"
    assert lake_identity(catalog) == "postgres:dbname=lake host=db user=sw password=***"
    assert "s3cret" not in lake_identity("postgres:password='s3 cret' dbname=lake")


# --- many processes at once ------------------------------------------------------------------

WRITERS, ITEMS_EACH = 4, 120


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request, tmp_path) -> str:
    """The lake's catalog as a config value: a SQLite file, or a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'shared' / 'lake.sqlite'}"
    return "postgres:" + request.getfixturevalue("postgres_database")


def test_concurrent_writer_processes_land_every_row_exactly_once(
    tmp_path, seed_items, catalog: str
):
    """Four `silkwatch lake publish` processes at once, 28 lake transactions between them."""
    lake = _lake(tmp_path).model_copy(update={"catalog": catalog})
    configs = []
    for w in range(WRITERS):
        writer = _writer(tmp_path, f"w{w}", lake)
        seed_items(writer, _items(f"w{w}", ITEMS_EACH, f"https://w{w}.example/feed.xml"))
        config = tmp_path / f"w{w}.toml"
        config.write_text(
            f'[storage]\ndatabase = "w{w}.duckdb"\n\n[lake]\n'
            f'catalog = "{catalog}"\ndata_path = "shared/data"\n'
            f'writer = "writer-{w}"\nbatch_rows = 40\n',
            encoding="utf-8",
        )
        configs.append(config)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "silkwatch", "lake", "publish", "--config", str(c)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        for c in configs
    ]
    outputs = [p.communicate(timeout=300)[0].decode() for p in procs]

    assert [p.returncode for p in procs] == [0] * WRITERS, outputs
    for out in outputs:
        assert f"published {ITEMS_EACH} items, {ITEMS_EACH} scores, 1 feed rows" in out
    total = WRITERS * ITEMS_EACH
    assert _count(lake, "SELECT count(*) FROM items") == total
    assert _count(lake, "SELECT count(DISTINCT item_id) FROM items") == total
    assert _count(lake, "SELECT count(*) FROM item_themes") == total
    per_writer = query_lake(
        lake,
        "SELECT author, count(*) FROM snapshots() WHERE author IS NOT NULL "
        "AND commit_message LIKE '%rows of items' GROUP BY author ORDER BY author",
    ).rows
    assert per_writer == [(f"writer-{w}", ITEMS_EACH // 40) for w in range(WRITERS)]
