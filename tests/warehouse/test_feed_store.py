"""Feed rows, items and the fetch log as one fetch of one feed leaves them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from warehouse_samples import (
    T0,
    failed_outcome,
    item,
    not_modified_outcome,
    ok_outcome,
    ok_state,
)

from silkwatch.config import FeedSettings
from silkwatch.errors import FetchError, ParseError, RateLimitedError, StorageError
from silkwatch.types import FeedOutcome, FeedState
from warehouse.db import open_db
from warehouse.feed_store import (
    feed_health,
    load_feed_states,
    save_outcome,
    save_outcomes,
    sync_feeds,
)

A = "https://a.example/rss"
B = "https://b.example/feed.xml"


@pytest.fixture
def conn(tmp_path: Path):
    with open_db(tmp_path / "sw.duckdb") as conn:
        yield conn


def _feed_row(conn: duckdb.DuckDBPyConnection, url: str) -> dict[str, object]:
    cursor = conn.execute("SELECT * FROM feeds WHERE url = ?", [url])
    columns = [d[0] for d in cursor.description]
    return dict(zip(columns, cursor.fetchone(), strict=True))


def _log(conn: duckdb.DuckDBPyConnection, url: str) -> list[tuple]:
    return conn.execute(
        "SELECT run_id, status, http_status, error, transient, bytes, items_seen, items_new, "
        "elapsed_ms FROM fetch_log WHERE feed_url = ? ORDER BY id",
        [url],
    ).fetchall()


def test_sync_feeds_upserts_config_and_keeps_removed_feeds(conn):
    sync_feeds(conn, [FeedSettings(url=A, name="A", tags=("cn",)), FeedSettings(url=B)])
    save_outcome(
        conn, run_id="r1", outcome=ok_outcome(B, [item(B, "1")]), state=ok_state(B), now=T0
    )
    sync_feeds(conn, [FeedSettings(url=A, name="A news", tags=("cn", "sco"))])
    rows = conn.execute("SELECT url, name, tags FROM feeds ORDER BY url").fetchall()
    assert rows == [(A, "A news", ["cn", "sco"]), (B, None, [])]
    assert conn.execute("SELECT count(*) FROM items WHERE feed_url = ?", [B]).fetchone() == (1,)


def test_load_feed_states_returns_stored_state_and_blank_for_unknown(conn):
    assert load_feed_states(conn, [A]) == {A: FeedState(url=A)}
    state = FeedState(
        url=A,
        etag='"e1"',
        last_modified="Sun, 01 Mar 2026 10:00:00 GMT",
        error_count=0,
        next_fetch_at=T0 + timedelta(minutes=30),
        last_status="ok",
    )
    save_outcome(conn, run_id="r1", outcome=ok_outcome(A, []), state=state, now=T0)
    assert load_feed_states(conn, [A, B]) == {A: state, B: FeedState(url=B)}
    assert load_feed_states(conn, []) == {}


def test_items_are_stored_once_and_the_new_count_is_returned(conn):
    first = [item(A, "1"), item(A, "2"), item(A, "2"), item(A, "3")]  # "2" listed twice
    assert (
        save_outcome(conn, run_id="r1", outcome=ok_outcome(A, first), state=ok_state(A), now=T0)
        == 3
    )
    later = T0 + timedelta(hours=1)
    again = [item(A, "2", title="Edited title"), item(A, "3"), item(A, "4")]
    assert (
        save_outcome(conn, run_id="r2", outcome=ok_outcome(A, again), state=ok_state(A), now=later)
        == 1
    )
    rows = conn.execute("SELECT guid, title, fetched_at FROM items ORDER BY guid").fetchall()
    assert rows == [
        ("1", "Story 1", T0),
        ("2", "Story 2", T0),  # first sighting wins; fetched_at is when we first stored it
        ("3", "Story 3", T0),
        ("4", "Story 4", later),
    ]
    assert [r[7] for r in _log(conn, A)] == [3, 1]
    assert [r[6] for r in _log(conn, A)] == [4, 3]


def test_item_columns_round_trip(conn):
    it = item(A, "x", summary="plain text")
    save_outcome(conn, run_id="r1", outcome=ok_outcome(A, [it]), state=ok_state(A), now=T0)
    row = conn.execute(
        "SELECT item_id, feed_url, guid, url, title, summary, author, language, published_at "
        "FROM items"
    ).fetchone()
    assert row == (it.item_id, A, "x", it.url, it.title, "plain text", "Desk", "en", T0)


def test_ok_outcome_writes_validators_title_and_success(conn):
    state = ok_state(A, etag='"v2"')
    save_outcome(
        conn,
        run_id="r1",
        outcome=ok_outcome(A, [item(A, "1")], title="Asia Wire", body=b"x" * 123),
        state=state,
        now=T0,
    )
    row = _feed_row(conn, A)
    assert (row["etag"], row["title"], row["last_status"], row["error_count"]) == (
        '"v2"',
        "Asia Wire",
        "ok",
        0,
    )
    assert row["last_fetched_at"] == row["last_success_at"] == T0
    assert _log(conn, A) == [("r1", "ok", 200, None, None, 123, 1, 1, 250)]


def test_failed_outcome_keeps_items_and_records_the_error(conn):
    save_outcome(
        conn,
        run_id="r1",
        outcome=ok_outcome(A, [item(A, "1"), item(A, "2")], title="Asia Wire"),
        state=ok_state(A, etag='"v1"'),
        now=T0,
    )
    later = T0 + timedelta(hours=1)
    error = FetchError(A, "HTTP 500 Internal Server Error", transient=True, status_code=500)
    state = FeedState(
        url=A,
        etag='"v1"',
        error_count=1,
        last_status="fetch_error",
        last_error=str(error),
        first_error_at=later,
        next_fetch_at=later + timedelta(minutes=5),
    )
    assert (
        save_outcome(conn, run_id="r2", outcome=failed_outcome(A, error), state=state, now=later)
        == 0
    )
    row = _feed_row(conn, A)
    assert row["last_status"] == "fetch_error"
    assert row["last_error"] == f"{A}: HTTP 500 Internal Server Error"
    assert (row["error_count"], row["first_error_at"]) == (1, later)
    assert row["next_fetch_at"] == later + timedelta(minutes=5)
    assert row["etag"] == '"v1"' and row["title"] == "Asia Wire"
    assert (row["last_fetched_at"], row["last_success_at"]) == (later, T0)
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (2,)
    assert _log(conn, A)[-1] == ("r2", "fetch_error", 500, str(error), True, None, None, 0, 1500)


def test_parse_and_rate_limit_errors_log_their_kind(conn):
    parse = ParseError(B, "not a feed: HTML page")
    save_outcome(
        conn,
        run_id="r1",
        outcome=failed_outcome(B, parse),
        state=FeedState(url=B, error_count=1, last_status="parse_error"),
        now=T0,
    )
    limited = RateLimitedError(A, "HTTP 429", retry_at=T0 + timedelta(hours=1), status_code=429)
    save_outcome(
        conn,
        run_id="r1",
        outcome=failed_outcome(A, limited),
        state=FeedState(
            url=A, error_count=1, last_status="rate_limited", next_fetch_at=limited.retry_at
        ),
        now=T0,
    )
    assert _log(conn, B)[0][1:5] == ("parse_error", None, str(parse), False)
    assert _log(conn, A)[0][1:5] == ("rate_limited", 429, str(limited), True)
    assert load_feed_states(conn, [A])[A].next_fetch_at == T0 + timedelta(hours=1)


def test_not_modified_and_skipped(conn):
    save_outcome(
        conn,
        run_id="r1",
        outcome=ok_outcome(A, [item(A, "1")]),
        state=ok_state(A, etag='"v1"'),
        now=T0,
    )
    t1, t2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    save_outcome(
        conn,
        run_id="r2",
        outcome=not_modified_outcome(A),
        state=FeedState(url=A, etag='"v1"', last_status="not_modified"),
        now=t1,
    )
    row = _feed_row(conn, A)
    assert (row["last_status"], row["last_fetched_at"], row["last_success_at"]) == (
        "not_modified",
        t1,
        t1,
    )
    assert row["title"] == "A feed"  # a 304 has no title: keep the last one
    skipped_state = load_feed_states(conn, [A])[A]
    save_outcome(
        conn, run_id="r3", outcome=FeedOutcome(url=A, status="skipped"), state=skipped_state, now=t2
    )
    row = _feed_row(conn, A)
    assert (row["last_status"], row["last_fetched_at"]) == ("not_modified", t1)
    assert [r[1:3] for r in _log(conn, A)] == [
        ("ok", 200),
        ("not_modified", 304),
        ("skipped", None),
    ]


def test_outcome_for_an_unsynced_feed_creates_its_row(conn):
    save_outcome(
        conn,
        run_id="r1",
        outcome=ok_outcome(B, [item(B, "1")]),
        state=ok_state(B, etag='"b"'),
        now=T0,
    )
    assert _feed_row(conn, B)["etag"] == '"b"'


def test_save_outcomes_batch_counts_per_feed_and_later_state_wins(conn):
    batch = [
        (ok_outcome(A, [item(A, "1"), item(A, "2")]), ok_state(A, etag='"a1"')),
        (ok_outcome(B, [item(B, "1")]), ok_state(B, etag='"b1"')),
        (ok_outcome(A, [item(A, "2"), item(A, "3")]), ok_state(A, etag='"a2"')),
    ]
    assert save_outcomes(conn, run_id="r1", batch=batch, now=T0) == [2, 1, 1]
    assert _feed_row(conn, A)["etag"] == '"a2"'
    assert [r[7] for r in _log(conn, A)] == [2, 1]
    assert save_outcomes(conn, run_id="r2", batch=[], now=T0) == []


def test_a_failed_save_rolls_back_everything(conn, tmp_path: Path):
    save_outcome(
        conn,
        run_id="r1",
        outcome=ok_outcome(A, [item(A, "1")]),
        state=ok_state(A, etag='"v1"'),
        now=T0,
    )
    bad = FeedState(url=A, etag='"v2"', error_count=-(2**40))  # does not fit INTEGER
    with pytest.raises(StorageError, match=A) as info:
        save_outcome(conn, run_id="r2", outcome=ok_outcome(A, [item(A, "2")]), state=bad, now=T0)
    assert info.value.path == str(tmp_path / "sw.duckdb")
    assert _feed_row(conn, A)["etag"] == '"v1"'
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (1,)
    assert len(_log(conn, A)) == 1


def test_feed_health_lists_worst_first_with_item_counts(conn):
    sync_feeds(conn, [FeedSettings(url=A, name="A"), FeedSettings(url=B, name="B")])
    save_outcome(
        conn,
        run_id="r1",
        outcome=ok_outcome(A, [item(A, "1"), item(A, "2")]),
        state=ok_state(A),
        now=T0,
    )
    error = FetchError(B, "connection reset", transient=True)
    save_outcome(
        conn,
        run_id="r1",
        outcome=failed_outcome(B, error),
        state=FeedState(
            url=B,
            error_count=3,
            last_status="fetch_error",
            last_error=str(error),
            first_error_at=T0 - timedelta(days=1),
            next_fetch_at=T0 + timedelta(minutes=20),
        ),
        now=T0,
    )
    health = feed_health(conn)
    assert [h["url"] for h in health] == [B, A]
    assert health[0] == {
        "url": B,
        "name": "B",
        "last_status": "fetch_error",
        "last_error": str(error),
        "error_count": 3,
        "failing_since": T0 - timedelta(days=1),
        "last_success_at": None,
        "next_fetch_at": T0 + timedelta(minutes=20),
        "items": 0,
    }
    assert (health[1]["items"], health[1]["last_success_at"]) == (2, T0)
    assert [h["url"] for h in feed_health(conn, failing_only=True)] == [B]
