"""Plain builders for feed outcomes, shared by the warehouse tests and the crash writer."""

from __future__ import annotations

from datetime import UTC, datetime

from silkwatch.errors import FeedError
from silkwatch.types import FeedItem, FeedOutcome, FeedState, FetchResult, ParsedFeed

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def item(feed_url: str, guid: str, *, title: str | None = None, summary: str = "") -> FeedItem:
    return FeedItem(
        item_id=f"{feed_url}#{guid}",
        feed_url=feed_url,
        guid=guid,
        url=f"https://news.example/{guid}",
        title=title or f"Story {guid}",
        summary=summary,
        author="Desk",
        published_at=T0,
        language="en",
    )


def ok_outcome(
    url: str, items: list[FeedItem], *, title: str | None = "A feed", body: bytes = b"<rss/>"
) -> FeedOutcome:
    fetch = FetchResult(url=url, final_url=url, status=200, body=body, headers={})
    feed = ParsedFeed(url=url, title=title, language="en", items=tuple(items), format="rss20")
    return FeedOutcome(url=url, status="ok", fetch=fetch, feed=feed, elapsed_seconds=0.25)


def not_modified_outcome(url: str) -> FeedOutcome:
    fetch = FetchResult(url=url, final_url=url, status=304, body=b"", headers={})
    return FeedOutcome(url=url, status="not_modified", fetch=fetch)


def failed_outcome(url: str, error: FeedError) -> FeedOutcome:
    return FeedOutcome(url=url, status="failed", error=error, elapsed_seconds=1.5)


def ok_state(url: str, etag: str | None = None) -> FeedState:
    return FeedState(url=url, etag=etag, last_modified=None, last_status="ok")
