"""Feed state and items: what one fetch of one feed leaves in the warehouse.

``save_outcome`` commits a feed's new items, its feed row (validators, error streak,
next fetch time) and its ``fetch_log`` row in ONE transaction. That is the cursor-with-data
rule: if the ETag were saved without the items, the next request would get a 304 and the
items would be lost for good; if the items were saved without the ETag, they would merely
be fetched again. Doing both at once makes a crash (even ``kill -9``) harmless.

``save_outcomes`` does the same for a whole batch of feeds in one transaction: one commit
(one fsync) per batch instead of per feed. Rows go in with one statement per table per
batch, lists bound as parameters and ``unnest``-ed, because DuckDB's ``executemany`` runs
one statement per row and is slow.
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
from warehouse.migrate import database_path

__all__ = [
    "feed_health",
    "load_feed_states",
    "save_outcome",
    "save_outcomes",
    "sync_feeds",
]


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
    params = [
        list(by_url),
        [f.name for f in by_url.values()],
        [list(f.tags) for f in by_url.values()],
    ]
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            """
            UPDATE feeds SET name = c.name, tags = c.tags
            FROM (SELECT unnest($1::VARCHAR[]) AS url, unnest($2::VARCHAR[]) AS name,
                         unnest($3::VARCHAR[][]) AS tags) AS c
            WHERE feeds.url = c.url
              AND (feeds.name IS DISTINCT FROM c.name OR feeds.tags IS DISTINCT FROM c.tags)
            """,
            params,
        )
        conn.execute(
            """
            INSERT INTO feeds (url, name, tags)
            SELECT * FROM (SELECT unnest($1::VARCHAR[]) AS url, unnest($2::VARCHAR[]) AS name,
                                  unnest($3::VARCHAR[][]) AS tags) AS c
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
        """
        SELECT item_id, feed_url, guid FROM items
        WHERE item_id IN (SELECT unnest($1::VARCHAR[]))
        UNION ALL
        SELECT item_id, feed_url, guid FROM items
        WHERE feed_url IN (SELECT unnest($2::VARCHAR[]))
          AND guid IN (SELECT unnest($3::VARCHAR[]))
        """,
        [
            [item.item_id for _, item in rows],
            sorted({url for url, _ in rows}),
            sorted({item.guid for _, item in rows}),
        ],
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
            """
            INSERT INTO items (item_id, feed_url, guid, url, title, summary, author, language,
                               published_at, fetched_at)
            SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[]), unnest($3::VARCHAR[]),
                   unnest($4::VARCHAR[]), unnest($5::VARCHAR[]), unnest($6::VARCHAR[]),
                   unnest($7::VARCHAR[]), unnest($8::VARCHAR[]), unnest($9::TIMESTAMPTZ[]), $10
            """,
            [
                [i.item_id for _, i in fresh],
                [url for url, _ in fresh],
                [i.guid for _, i in fresh],
                [i.url for _, i in fresh],
                [i.title for _, i in fresh],
                [i.summary for _, i in fresh],
                [i.author for _, i in fresh],
                [i.language for _, i in fresh],
                [i.published_at for _, i in fresh],
                now,
            ],
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
    params = [
        urls,
        [o.feed.title if o.feed is not None and o.feed.title else None for o in outcomes],
        [s.last_status or _log_status(o) for o, s in batch],
        [s.last_error for s in states],
        [s.error_count for s in states],
        [s.first_error_at for s in states],
        [s.etag for s in states],
        [s.last_modified for s in states],
        # a skipped feed was not asked anything
        [now if o.status != "skipped" else None for o in outcomes],
        [now if o.status in ("ok", "not_modified") else None for o in outcomes],
        [s.next_fetch_at for s in states],
    ]
    update = """
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
        FROM (
            SELECT unnest($1::VARCHAR[]) AS url, unnest($2::VARCHAR[]) AS title,
                   unnest($3::VARCHAR[]) AS last_status, unnest($4::VARCHAR[]) AS last_error,
                   unnest($5::INTEGER[]) AS error_count,
                   unnest($6::TIMESTAMPTZ[]) AS first_error_at,
                   unnest($7::VARCHAR[]) AS etag, unnest($8::VARCHAR[]) AS last_modified,
                   unnest($9::TIMESTAMPTZ[]) AS last_fetched_at,
                   unnest($10::TIMESTAMPTZ[]) AS last_success_at,
                   unnest($11::TIMESTAMPTZ[]) AS next_fetch_at
        ) AS n
        WHERE feeds.url = n.url
    """
    row = conn.execute(update, params).fetchone()
    if row is not None and row[0] == len(urls):
        return
    conn.execute(
        "INSERT INTO feeds (url) SELECT u FROM unnest($1::VARCHAR[]) AS t(u) "
        "WHERE u NOT IN (SELECT url FROM feeds)",
        [urls],
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
        """
        INSERT INTO fetch_log (run_id, feed_url, fetched_at, status, http_status, error,
                               transient, bytes, items_seen, items_new, elapsed_ms)
        SELECT $1, unnest($2::VARCHAR[]), $3, unnest($4::VARCHAR[]), unnest($5::INTEGER[]),
               unnest($6::VARCHAR[]), unnest($7::BOOLEAN[]), unnest($8::BIGINT[]),
               unnest($9::INTEGER[]), unnest($10::INTEGER[]), unnest($11::INTEGER[])
        """,
        [
            run_id,
            [o.url for o in outcomes],
            now,
            [_log_status(o) for o in outcomes],
            [_http_status(o) for o in outcomes],
            [_log_message(o) for o in outcomes],
            [e.transient if e is not None else None for e in errors],
            [len(o.fetch.body) if o.fetch is not None else None for o in outcomes],
            [len(o.feed.items) if o.feed is not None else None for o in outcomes],
            [new for _, new in logged],
            [round(o.elapsed_seconds * 1000) for o in outcomes],
        ],
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
