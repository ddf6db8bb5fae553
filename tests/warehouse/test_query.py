"""silkwatch sql: read-only queries and the table / csv / json renderings."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warehouse_samples import T0, item, ok_outcome, ok_state

from silkwatch.errors import StorageError
from warehouse.db import open_db
from warehouse.feed_store import save_outcome
from warehouse.query import QueryResult, format_result, run_query

A = "https://a.example/rss"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "sw.duckdb"
    with open_db(path) as conn:
        save_outcome(
            conn,
            run_id="r1",
            outcome=ok_outcome(A, [item(A, "1"), item(A, "2")]),
            state=ok_state(A),
            now=T0,
        )
    return path


def test_run_query_returns_columns_and_rows(db: Path):
    result = run_query(db, "SELECT guid, fetched_at FROM items ORDER BY guid")
    assert result == QueryResult(columns=["guid", "fetched_at"], rows=[("1", T0), ("2", T0)])


def test_writes_are_refused_and_change_nothing(db: Path):
    with pytest.raises(StorageError, match="read-only") as info:
        run_query(db, "DELETE FROM items")
    assert info.value.path == str(db)
    assert run_query(db, "SELECT count(*) FROM items").rows == [(2,)]


def test_a_bad_query_carries_duckdbs_message(db: Path):
    with pytest.raises(StorageError, match="no_such_column") as info:
        run_query(db, "SELECT no_such_column FROM items")
    assert str(db) in str(info.value)


def test_query_on_a_missing_database_says_run_first(tmp_path: Path):
    with pytest.raises(StorageError, match="run `silkwatch run` first"):
        run_query(tmp_path / "none.duckdb", "SELECT 1")
    assert not (tmp_path / "none.duckdb").exists()


SAMPLE = QueryResult(
    columns=["title", "n", "published_at", "tags"],
    rows=[
        ('Khorgos, "dry port"\nopens', 3, datetime(2026, 3, 1, 12, 0, tzinfo=UTC), ["cn"]),
        ("Ünicode 新闻", None, None, []),
    ],
)


def test_table_format_is_aligned_with_empty_nulls_and_one_line_per_row():
    lines = format_result(SAMPLE, "table").splitlines()
    assert len(lines) == 4
    assert lines[0].split() == ["title", "n", "published_at", "tags"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].startswith('Khorgos, "dry port" opens  3  2026-03-01T12:00:00+00:00  ["cn"]')
    col = lines[0].index("n ")
    assert lines[2][col] == "3" and lines[3][col : col + 1] == " "
    assert lines[3].startswith("Ünicode 新闻")


def test_csv_format_round_trips_through_the_csv_module():
    rows = list(csv.reader(io.StringIO(format_result(SAMPLE, "csv"))))
    assert rows == [
        ["title", "n", "published_at", "tags"],
        ['Khorgos, "dry port"\nopens', "3", "2026-03-01T12:00:00+00:00", '["cn"]'],
        ["Ünicode 新闻", "", "", "[]"],
    ]


def test_json_format_is_a_list_of_objects_with_iso_times():
    assert json.loads(format_result(SAMPLE, "json")) == [
        {
            "title": 'Khorgos, "dry port"\nopens',
            "n": 3,
            "published_at": "2026-03-01T12:00:00+00:00",
            "tags": ["cn"],
        },
        {"title": "Ünicode 新闻", "n": None, "published_at": None, "tags": []},
    ]


def test_formats_of_an_empty_result():
    empty = QueryResult(columns=["a", "b"], rows=[])
    assert format_result(empty, "json") == "[]"
    assert format_result(empty, "csv") == "a,b"
    assert format_result(empty, "table").splitlines()[0].split() == ["a", "b"]


def test_real_query_results_render_in_every_format(db: Path):
    result = run_query(db, "SELECT * FROM feeds")
    for fmt in ("table", "csv", "json"):
        assert A in format_result(result, fmt)
    (obj,) = json.loads(format_result(result, "json"))
    assert obj["last_success_at"] == T0.isoformat()
