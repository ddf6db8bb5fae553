"""Reads and writes for alerts and digests: current matches, the delivery ledger, the outbox.

Exactly-once delivery rests on the order of writes here: a message's bytes
(``alert_messages``) and one ``pending`` row per item (``alerts_sent``) are committed in
one transaction *before* anything is sent; after sending, the rows become ``sent`` or
``failed``. Whatever is still ``pending`` or ``failed`` on the next run is sent again
from the stored bytes. All SQL binds its values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from silkwatch.types import ScoredItem

__all__ = [
    "DigestRecord",
    "NewMessage",
    "StoredMessage",
    "alerted_keys",
    "current_scores",
    "digest_record",
    "failing_feeds",
    "mark_message",
    "match_history",
    "outstanding_messages",
    "record_digest",
    "record_messages",
]

# The newest score of each (item, theme) under one themes version (several models may have
# scored the same version; the latest wins). Shared by alert selection and the digest.
_CURRENT_CTE = """
WITH cur AS (
    SELECT item_id, theme,
           arg_max(score, scored_at) AS score,
           arg_max(matched, scored_at) AS matched,
           arg_max(evidence, scored_at) AS evidence
    FROM item_themes
    WHERE themes_version = $version
    GROUP BY item_id, theme
)
"""


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _evidence(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _scored(row: tuple[Any, ...]) -> ScoredItem:
    (
        item_id,
        theme,
        score,
        title,
        url,
        summary,
        feed_url,
        feed_name,
        fetched_at,
        published_at,
        tags,
        evidence,
    ) = row
    return ScoredItem(
        item_id=item_id,
        theme=theme,
        score=float(score),
        title=title,
        url=url,
        summary=summary,
        feed_url=feed_url,
        feed_name=feed_name,
        fetched_at=_utc(fetched_at),  # type: ignore[arg-type]
        published_at=_utc(published_at),
        feed_tags=tuple(tags or ()),
        evidence=_evidence(evidence),
    )


def current_scores(
    db: duckdb.DuckDBPyConnection,
    *,
    themes_version: str,
    since: datetime,
    until: datetime | None,
    themes: Sequence[str],
    min_score: float = 0.0,
    matched_only: bool = False,
) -> list[ScoredItem]:
    """Current scores of items first stored in ``[since, until)`` for ``themes``.

    ``until=None`` leaves the window open at the end.
    ``min_score`` is a cheap pre-filter (rules apply their own thresholds afterwards);
    ``matched_only`` keeps the rows the classifier marked as matches (the digest).
    """
    sql = (
        _CURRENT_CTE
        + """
        SELECT i.item_id, cur.theme, cur.score, i.title, i.url, i.summary, i.feed_url, f.name,
               i.fetched_at, i.published_at, f.tags, cur.evidence
        FROM cur
        JOIN items i USING (item_id)
        LEFT JOIN feeds f ON f.url = i.feed_url
        WHERE i.fetched_at >= $since AND ($until IS NULL OR i.fetched_at < $until)
          AND list_contains($themes, cur.theme) AND cur.score >= $min_score"""
        + (" AND cur.matched" if matched_only else "")
        + " ORDER BY i.item_id, cur.theme"
    )
    rows = db.execute(
        sql,
        {
            "version": themes_version,
            "since": since,
            "until": until,
            "themes": list(themes),
            "min_score": min_score,
        },
    ).fetchall()
    return [_scored(r) for r in rows]


def match_history(
    db: duckdb.DuckDBPyConnection,
    *,
    themes_version: str,
    since: datetime,
    until: datetime,
) -> list[tuple[str, datetime, str]]:
    """``(theme, fetched_at, story_key)`` of every current match in the window (the chart)."""
    rows = db.execute(
        _CURRENT_CTE
        + """
        SELECT cur.theme, i.fetched_at, coalesce(i.url, i.item_id)
        FROM cur JOIN items i USING (item_id)
        WHERE cur.matched AND i.fetched_at >= $since AND i.fetched_at < $until""",
        {"version": themes_version, "since": since, "until": until},
    ).fetchall()
    return [(theme, _utc(at), key) for theme, at, key in rows]  # type: ignore[misc]


def alerted_keys(db: duckdb.DuckDBPyConnection) -> set[tuple[str, str, str]]:
    """``(rule, channel, key)`` for every recorded delivery, keyed by item id and story key."""
    keys: set[tuple[str, str, str]] = set()
    for rule, channel, item_id, story_key in db.execute(
        "SELECT rule, channel, item_id, story_key FROM alerts_sent"
    ).fetchall():
        keys.add((rule, channel, item_id))
        if story_key:
            keys.add((rule, channel, story_key))
    return keys


@dataclass(frozen=True)
class NewMessage:
    """A rendered alert to queue: its bytes and the (item id, story key) pairs it carries."""

    message_id: str
    rule: str
    channel: str
    payload: bytes
    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class StoredMessage:
    """A queued alert not yet delivered: what to send again, and how often it was tried."""

    message_id: str
    rule: str
    channel: str
    created_at: datetime
    payload: bytes
    item_ids: tuple[str, ...]
    attempts: int


def record_messages(
    db: duckdb.DuckDBPyConnection, messages: Iterable[NewMessage], *, now: datetime
) -> int:
    """Queue messages and their ``pending`` rows in one transaction; returns rows added.

    Runs before any sending, so a crash after this point loses nothing: the next run
    finds the rows pending and sends the stored bytes.
    """
    added = 0
    db.execute("BEGIN TRANSACTION")
    try:
        for m in messages:
            db.execute(
                "INSERT INTO alert_messages (message_id, rule, channel, created_at, items, payload)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [m.message_id, m.rule, m.channel, now, len(m.items), m.payload],
            )
            for item_id, story_key in m.items:
                db.execute(
                    "INSERT INTO alerts_sent (rule, item_id, channel, story_key, message_id,"
                    " status, attempts) VALUES (?, ?, ?, ?, ?, 'pending', 0)"
                    " ON CONFLICT DO NOTHING",
                    [m.rule, item_id, m.channel, story_key, m.message_id],
                )
                added += 1
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return added


def outstanding_messages(db: duckdb.DuckDBPyConnection) -> list[StoredMessage]:
    """Messages with any ``pending`` or ``failed`` row, oldest first."""
    rows = db.execute(
        """
        SELECT m.message_id, m.rule, m.channel, m.created_at, m.payload,
               list(a.item_id ORDER BY a.item_id), max(a.attempts)
        FROM alert_messages m
        JOIN alerts_sent a ON a.message_id = m.message_id
        WHERE a.status IN ('pending', 'failed')
        GROUP BY m.message_id, m.rule, m.channel, m.created_at, m.payload
        ORDER BY m.created_at, m.message_id
        """
    ).fetchall()
    return [
        StoredMessage(mid, rule, channel, _utc(created), bytes(payload), tuple(ids), attempts)
        for mid, rule, channel, created, payload, ids, attempts in rows
    ]


def mark_message(
    db: duckdb.DuckDBPyConnection,
    message_id: str,
    *,
    ok: bool,
    now: datetime,
    error: str | None = None,
) -> None:
    """Record one delivery attempt of a message on all its not-yet-sent rows."""
    db.execute(
        "UPDATE alerts_sent SET status = ?, sent_at = ?, error = ?, attempts = attempts + 1"
        " WHERE message_id = ? AND status <> 'sent'",
        ["sent" if ok else "failed", now if ok else None, None if ok else error, message_id],
    )


def failing_feeds(
    db: duckdb.DuckDBPyConnection, *, failing_since: datetime
) -> list[tuple[str, str | None, datetime, str | None]]:
    """``(url, name, first_error_at, last_error)`` of feeds failing since before the cut-off."""
    rows = db.execute(
        "SELECT url, coalesce(name, title), first_error_at, last_error FROM feeds"
        " WHERE error_count > 0 AND first_error_at IS NOT NULL AND first_error_at <= ?"
        " ORDER BY first_error_at, url",
        [failing_since],
    ).fetchall()
    return [(url, name, _utc(since), err) for url, name, since, err in rows]  # type: ignore[misc]


@dataclass(frozen=True)
class DigestRecord:
    status: str
    message_id: str | None
    sent_at: datetime | None


def digest_record(
    db: duckdb.DuckDBPyConnection, *, start: datetime, end: datetime, recipient: str
) -> DigestRecord | None:
    """The ledger row for one period and recipient, if any."""
    row = db.execute(
        "SELECT status, message_id, sent_at FROM digests_sent"
        " WHERE period_start = ? AND period_end = ? AND recipient = ?",
        [start, end, recipient],
    ).fetchone()
    return DigestRecord(row[0], row[1], _utc(row[2])) if row else None


def record_digest(
    db: duckdb.DuckDBPyConnection,
    *,
    start: datetime,
    end: datetime,
    recipient: str,
    status: str,
    message_id: str,
    items: int,
    now: datetime,
    error: str | None = None,
) -> None:
    """Insert or update the ledger row (``pending`` before sending, then ``sent``/``failed``)."""
    db.execute(
        "INSERT INTO digests_sent (period_start, period_end, recipient, message_id, sent_at,"
        " status, error, items) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (period_start, period_end, recipient) DO UPDATE SET"
        " message_id = excluded.message_id, sent_at = excluded.sent_at,"
        " status = excluded.status, error = excluded.error, items = excluded.items",
        [
            start,
            end,
            recipient,
            message_id,
            now if status == "sent" else None,
            status,
            error,
            items,
        ],
    )
