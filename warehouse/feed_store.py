"""Feed state and items: what one fetch of one feed leaves in the warehouse.

``save_outcome`` commits a feed's new items, its feed row (validators, error streak,
next fetch time) and its ``fetch_log`` row in ONE transaction. That is the cursor-with-data
rule: if the ETag were saved without the items, the next request would get a 304 and the
items would be lost for good; if the items were saved without the ETag, they would merely
be fetched again. Doing both at once makes a crash (even ``kill -9``) harmless.

``save_outcomes`` does the same for a whole batch of feeds in one transaction: one commit
(one fsync) per batch instead of per feed. Rows go in with one statement per table per
batch, the rows sent as one JSON parameter (``warehouse/bulk.py``), because DuckDB's
``executemany`` runs one statement per row and is slow.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from silkwatch.config import FeedSettings
from silkwatch.errors import FetchError, StorageError
from silkwatch.types import FeedItem, FeedOutcome, FeedState
from warehouse.bulk import json_columns, unnest_json
from warehouse.migrate import database_path

__all__ = [
    "feed_health",
    "load_feed_states",
    "save_outcome",
    "save_outcomes",
    "sync_feeds",
]


# Column types of the batches sent with warehouse.bulk (in the order the SQL inserts them).
_ITEM_COLUMNS = {
    "item_id": "VARCHAR",
    "feed_url": "VARCHAR",
    "guid": "VARCHAR",
    "url": "VARCHAR",
    "title": "VARCHAR",
    "summary": "VARCHAR",
    "author": "VARCHAR",
    "language": "VARCHAR",
    "published_at": "TIMESTAMPTZ",
}
_FEED_ROW_COLUMNS = {
    "url": "VARCHAR",
    "title": "VARCHAR",
    "last_status": "VARCHAR",
    "last_error": "VARCHAR",
    "error_count": "INTEGER",
    "first_error_at": "TIMESTAMPTZ",
    "etag": "VARCHAR",
    "last_modified": "VARCHAR",
    "last_fetched_at": "TIMESTAMPTZ",
    "last_success_at": "TIMESTAMPTZ",
    "next_fetch_at": "TIMESTAMPTZ",
}
_FETCH_LOG_COLUMNS = {
    "feed_url": "VARCHAR",
    "status": "VARCHAR",
    "http_status": "INTEGER",
    "error": "VARCHAR",
    "transient": "BOOLEAN",
    "bytes": "BIGINT",
    "items_seen": "INTEGER",
    "items_new": "INTEGER",
    "elapsed_ms": "INTEGER",
}


def _utc(value: datetime | None) -> datetime | None:
    """DuckDB hands back TIMESTAMPTZ in the session zone; callers compare with UTC times."""
    return value.astimezone(UTC) if value is not None else None


def sync_feeds(conn: duckdb.DuckDBPyConnection, feeds: Sequence[FeedSettings]) -> None:
    """Upsert the configured feeds' url, name and tags.

    Feeds that left the configuration are kept, with their items and log: an analyst may
    still query what they published. Only rows whose name or tags changed are rewritten,
    so an unchanged list of thousands of feeds costs one read.
    """
    by_url = {f.url: f for f in feeds}  # a URL listed twice: the last entry wins
    if not by_url:
        return
    params = {
        "rows": json_columns(
            {
                "url": list(by_url),
                "name": [f.name for f in by_url.values()],
                "tags": [list(f.tags) for f in by_url.values()],
            }
        )
    }
    configured = unnest_json("$rows", {"url": "VARCHAR", "name": "VARCHAR", "tags": "VARCHAR[]"})
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            f"""
            UPDATE feeds SET name = c.name, tags = c.tags
            FROM {configured} AS c
            WHERE feeds.url = c.url
              AND (feeds.name IS DISTINCT FROM c.name OR feeds.tags IS DISTINCT FROM c.tags)
            """,
            params,
        )
        conn.execute(
            f"""
            INSERT INTO feeds (url, name, tags)
            SELECT * FROM {configured} AS c
            WHERE c.url NOT IN (SELECT url FROM feeds)
            """,
            params,
        )
        conn.execute("COMMIT")
    except BaseException as exc:
        _rollback(conn)
        if isinstance(exc, duckdb.Error):
            raise StorageError(database_path(conn), f"cannot store the feed list: {exc}") from exc
        raise


def load_feed_states(conn: duckdb.DuckDBPyConnection, urls: Sequence[str]) -> dict[str, FeedState]:
    """The stored state of each URL; a feed never seen before gets a blank ``FeedState``."""
    wanted = set(urls)
    states: dict[str, FeedState] = {}
    if not wanted:
        return states
    # The feeds table holds the configured feeds plus a few removed ones: reading it whole
    # and picking in Python is faster than binding thousands of URLs as a parameter.
    rows = conn.execute(
        "SELECT url, etag, last_modified, error_count, next_fetch_at, "
        "last_status, last_error, first_error_at FROM feeds"
    ).fetchall()
    for url, etag, last_modified, errors, next_at, status, error, first_error in rows:
        if url in wanted:
            states[url] = FeedState(
                url=url,
                etag=etag,
                last_modified=last_modified,
                error_count=errors,
                next_fetch_at=_utc(next_at),
                last_status=status,
                last_error=error,
                first_error_at=_utc(first_error),
            )
    return {url: states.get(url) or FeedState(url=url) for url in urls}


def _unique_items(items: Sequence[FeedItem]) -> list[FeedItem]:
    """First occurrence of each item id and guid: a feed may repeat an entry."""
    seen_ids: set[str] = set()
    seen_guids: set[str] = set()
    unique = []
    for item in items:
        if item.item_id in seen_ids or item.guid in seen_guids:
            continue
        seen_ids.add(item.item_id)
        seen_guids.add(item.guid)
        unique.append(item)
    return unique


def _stored_keys(
    conn: duckdb.DuckDBPyConnection, rows: Sequence[tuple[str, FeedItem]]
) -> tuple[set[str], set[tuple[str, str]]]:
    """Which of these item ids and (feed, guid) pairs are already stored.

    Asked before inserting instead of ``ON CONFLICT DO NOTHING``: DuckDB's conflict
    handling costs 10-70 µs per row and grows with the table (measured: 290 ms for 40 rows
    into a million-row table); this lookup takes a few milliseconds per batch.
    """
    found = conn.execute(
        f"""
        SELECT item_id, feed_url, guid FROM items
        WHERE item_id IN (SELECT id FROM {unnest_json("$ids", {"id": "VARCHAR"})})
        UNION ALL
        SELECT item_id, feed_url, guid FROM items
        WHERE feed_url IN (SELECT url FROM {unnest_json("$urls", {"url": "VARCHAR"})})
          AND guid IN (SELECT guid FROM {unnest_json("$guids", {"guid": "VARCHAR"})})
        """,
        {
            "ids": json_columns({"id": [item.item_id for _, item in rows]}),
            "urls": json_columns({"url": sorted({url for url, _ in rows})}),
            "guids": json_columns({"guid": sorted({item.guid for _, item in rows})}),
        },
    ).fetchall()
    ids = {item_id for item_id, _, _ in found}
    pairs = {(feed_url, guid) for _, feed_url, guid in found}
    return ids, pairs


def _insert_items(
    conn: duckdb.DuckDBPyConnection, outcomes: Sequence[FeedOutcome], now: datetime
) -> dict[str, int]:
    """Insert the items not stored yet, in one statement; return new-item counts per feed.

    ``feed_url`` is the configured URL (the feeds row's key), whatever the parser saw
    after redirects, so items always join to their feed.
    """
    rows = [
        (o.url, item)
        for o in outcomes
        if o.feed is not None
        for item in _unique_items(o.feed.items)
    ]
    if not rows:
        return {}
    stored_ids, stored_pairs = _stored_keys(conn, rows)
    fresh: list[tuple[str, FeedItem]] = []
    for url, item in rows:
        if item.item_id in stored_ids or (url, item.guid) in stored_pairs:
            continue
        stored_ids.add(item.item_id)  # two feeds handing over the same item id: keep one
        fresh.append((url, item))
    if fresh:
        conn.execute(
            f"""
            INSERT INTO items (item_id, feed_url, guid, url, title, summary, author, language,
                               published_at, fetched_at)
            SELECT *, $now FROM {unnest_json("$rows", _ITEM_COLUMNS)}
            """,
            {
                "rows": json_columns(
                    {
                        "item_id": [i.item_id for _, i in fresh],
                        "feed_url": [url for url, _ in fresh],
                        "guid": [i.guid for _, i in fresh],
                        "url": [i.url for _, i in fresh],
                        "title": [i.title for _, i in fresh],
                        "summary": [i.summary for _, i in fresh],
                        "author": [i.author for _, i in fresh],
                        "language": [i.language for _, i in fresh],
                        "published_at": [i.published_at for _, i in fresh],
                    }
                ),
                "now": now,
            },
        )
    return Counter(url for url, _ in fresh)


def _write_feed_rows(
    conn: duckdb.DuckDBPyConnection,
    batch: Sequence[tuple[FeedOutcome, FeedState]],
    now: datetime,
) -> None:
    """Write each feed's row from its new state (URLs in ``batch`` are distinct).

    An UPDATE, not ``INSERT … ON CONFLICT DO UPDATE``: the rows normally exist already
    (``sync_feeds``), and DuckDB's upsert is several times slower. A feed saved without
    being synced first gets its row created, then updated.
    """
    outcomes = [o for o, _ in batch]
    states = [s for _, s in batch]
    urls = [o.url for o in outcomes]
    params = {
        "rows": json_columns(
            {
                "url": urls,
                "title": [o.feed.title if o.feed and o.feed.title else None for o in outcomes],
                "last_status": [s.last_status or _log_status(o) for o, s in batch],
                "last_error": [s.last_error for s in states],
                "error_count": [s.error_count for s in states],
                "first_error_at": [s.first_error_at for s in states],
                "etag": [s.etag for s in states],
                "last_modified": [s.last_modified for s in states],
                # a skipped feed was not asked anything
                "last_fetched_at": [now if o.status != "skipped" else None for o in outcomes],
                "last_success_at": [
                    now if o.status in ("ok", "not_modified") else None for o in outcomes
                ],
                "next_fetch_at": [s.next_fetch_at for s in states],
            }
        )
    }
    update = f"""
        UPDATE feeds SET
            title = coalesce(n.title, feeds.title),
            last_status = n.last_status,
            last_error = n.last_error,
            error_count = n.error_count,
            first_error_at = n.first_error_at,
            etag = n.etag,
            last_modified = n.last_modified,
            last_fetched_at = coalesce(n.last_fetched_at, feeds.last_fetched_at),
            last_success_at = coalesce(n.last_success_at, feeds.last_success_at),
            next_fetch_at = n.next_fetch_at
        FROM {unnest_json("$rows", _FEED_ROW_COLUMNS)} AS n
        WHERE feeds.url = n.url
    """
    row = conn.execute(update, params).fetchone()
    if row is not None and row[0] == len(urls):
        return
    conn.execute(
        f"INSERT INTO feeds (url) SELECT url FROM {unnest_json('$rows', {'url': 'VARCHAR'})} "
        "WHERE url NOT IN (SELECT url FROM feeds)",
        params,
    )
    conn.execute(update, params)


def _log_status(outcome: FeedOutcome) -> str:
    if outcome.status != "failed":
        return outcome.status
    return outcome.error.kind if outcome.error is not None else "error"


def _http_status(outcome: FeedOutcome) -> int | None:
    if outcome.fetch is not None:
        return outcome.fetch.status
    if isinstance(outcome.error, FetchError):
        return outcome.error.status_code
    return None


def _log_message(outcome: FeedOutcome) -> str | None:
    """The error, or for a stored document what an analyst should know about it.

    A feed that yields nothing always says why: an error, or that the document is a
    valid feed with no entries.
    """
    if outcome.error is not None:
        return str(outcome.error)
    feed = outcome.feed
    if feed is None:
        return None
    if feed.warning:
        return f"recovered from a broken document: {feed.warning}"
    if not feed.items:
        return f"valid {feed.format or 'feed'} document with no entries"
    return None


def _append_fetch_log(
    conn: duckdb.DuckDBPyConnection,
    run_id: str,
    logged: Sequence[tuple[FeedOutcome, int]],
    now: datetime,
) -> None:
    outcomes = [o for o, _ in logged]
    errors = [o.error for o in outcomes]
    conn.execute(
        f"""
        INSERT INTO fetch_log (run_id, fetched_at, feed_url, status, http_status, error,
                               transient, bytes, items_seen, items_new, elapsed_ms)
        SELECT $run_id, $now, * FROM {unnest_json("$rows", _FETCH_LOG_COLUMNS)}
        """,
        {
            "run_id": run_id,
            "now": now,
            "rows": json_columns(
                {
                    "feed_url": [o.url for o in outcomes],
                    "status": [_log_status(o) for o in outcomes],
                    "http_status": [_http_status(o) for o in outcomes],
                    "error": [_log_message(o) for o in outcomes],
                    "transient": [e.transient if e is not None else None for e in errors],
                    "bytes": [len(o.fetch.body) if o.fetch is not None else None for o in outcomes],
                    "items_seen": [len(o.feed.items) if o.feed else None for o in outcomes],
                    "items_new": [new for _, new in logged],
                    "elapsed_ms": [round(o.elapsed_seconds * 1000) for o in outcomes],
                }
            ),
        },
    )


def _distinct_url_rounds(batch: Sequence[tuple[FeedOutcome, FeedState]]) -> list[list[int]]:
    """Split batch positions into rounds where each feed URL appears at most once, in order.

    One upsert statement cannot touch the same feeds row twice; a batch with a feed listed
    twice is saved round by round, so the later outcome's state wins, as it would one by one.
    """
    rounds: list[list[int]] = []
    seen: list[set[str]] = []
    for pos, (outcome, _) in enumerate(batch):
        level = next((n for n in range(len(rounds) - 1, -1, -1) if outcome.url in seen[n]), -1) + 1
        if level == len(rounds):
            rounds.append([])
            seen.append(set())
        rounds[level].append(pos)
        seen[level].add(outcome.url)
    return rounds


def save_outcomes(
    conn: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    batch: Sequence[tuple[FeedOutcome, FeedState]],
    now: datetime,
) -> list[int]:
    """Store several feeds' outcomes in ONE transaction; return new-item counts in order.

    Each pair is (outcome, the feed's NEW state decided by the caller). All of the batch
    commits or none of it, which is at least as strong as one transaction per feed and
    costs one commit (one fsync) instead of one per feed.
    """
    counts = [0] * len(batch)
    if not batch:
        return counts
    conn.execute("BEGIN TRANSACTION")
    try:
        for positions in _distinct_url_rounds(batch):
            part = [batch[p] for p in positions]
            new = _insert_items(conn, [o for o, _ in part], now)
            for p in positions:
                counts[p] = new.get(batch[p][0].url, 0)
            _write_feed_rows(conn, part, now)
            _append_fetch_log(conn, run_id, [(batch[p][0], counts[p]) for p in positions], now)
        conn.execute("COMMIT")
    except BaseException as exc:
        _rollback(conn)
        if isinstance(exc, duckdb.Error):
            urls = ", ".join(dict.fromkeys(o.url for o, _ in batch))
            raise StorageError(database_path(conn), f"cannot save feed(s) {urls}: {exc}") from exc
        raise
    return counts


def save_outcome(
    conn: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    outcome: FeedOutcome,
    state: FeedState,
    now: datetime,
) -> int:
    """Store one feed's outcome atomically; return how many items were stored for the first time.

    ``state`` is the feed's NEW state, decided by the caller (``feeds.decide``). Items are
    inserted once per (feed, guid): seeing an entry again changes nothing. The new items,
    the feeds row and the fetch_log row commit together or not at all.
    """
    return save_outcomes(conn, run_id=run_id, batch=[(outcome, state)], now=now)[0]


def _rollback(conn: duckdb.DuckDBPyConnection) -> None:
    # the failing statement may already have ended the transaction
    with contextlib.suppress(duckdb.Error):
        conn.execute("ROLLBACK")


def feed_health(
    conn: duckdb.DuckDBPyConnection, *, failing_only: bool = False
) -> list[dict[str, object]]:
    """One dict per stored feed, worst first, for ``silkwatch feeds status``.

    ``failing_since`` is the start of the current failure streak; ``items`` counts every
    item ever stored from the feed.
    """
    cursor = conn.execute(
        """
        SELECT f.url, f.name, f.last_status, f.last_error, f.error_count,
               f.first_error_at AS failing_since, f.last_success_at, f.next_fetch_at,
               coalesce(i.n, 0) AS items
        FROM feeds AS f
        LEFT JOIN (SELECT feed_url, count(*) AS n FROM items GROUP BY feed_url) AS i
               ON i.feed_url = f.url
        WHERE NOT $1 OR f.error_count > 0
        ORDER BY f.error_count DESC, f.first_error_at NULLS LAST, f.url
        """,
        [failing_only],
    )
    columns = [d[0] for d in cursor.description]
    return [
        {c: _utc(v) if isinstance(v, datetime) else v for c, v in zip(columns, row, strict=True)}
        for row in cursor.fetchall()
    ]
