"""A batch sent as one JSON parameter comes back row by row, every type and value intact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import duckdb
import pytest

from warehouse.bulk import json_columns, unnest_json

TYPES = {
    "id": "VARCHAR",
    "tags": "VARCHAR[]",
    "at": "TIMESTAMPTZ",
    "n": "BIGINT",
    "ok": "BOOLEAN",
    "score": "DOUBLE",
}


def test_rows_round_trip_with_nulls_lists_zones_and_awkward_text():
    almaty = timezone(timedelta(hours=5))
    columns = {
        "id": ['quote\'s "double"', "Алматы 阿拉木图 \\ \n tab\t", None],
        "tags": [["sco", "e-commerce"], [], None],
        "at": [datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
               datetime(2026, 3, 1, 17, 0, tzinfo=almaty), None],
        "n": [2**40, 0, None],
        "ok": [True, False, None],
        "score": [0.125, 1e-9, None],
    }  # fmt: skip
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")

    rows = conn.execute(
        f"SELECT * FROM {unnest_json('$rows', TYPES)}", {"rows": json_columns(columns)}
    ).fetchall()

    assert [r[0] for r in rows] == columns["id"]
    assert [r[1] for r in rows] == columns["tags"]
    assert rows[0][2] == columns["at"][0]
    assert rows[1][2] == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # same instant, in UTC
    assert [r[3:] for r in rows] == [(2**40, True, 0.125), (0, False, 1e-9), (None, None, None)]


def test_an_empty_batch_is_no_rows():
    conn = duckdb.connect()
    rows = conn.execute(
        f"SELECT * FROM {unnest_json('$rows', {'id': 'VARCHAR'})}",
        {"rows": json_columns({"id": []})},
    ).fetchall()
    assert rows == []


def test_columns_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        json_columns({"id": ["a", "b"], "n": [1]})
