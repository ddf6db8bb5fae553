"""Plain typed values that flow between the stages: fetch → parse → store → classify → alert.

Frozen dataclasses so a stage cannot mutate what an earlier stage produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from silkwatch.errors import FeedError

__all__ = [
    "CycleSummary",
    "FeedItem",
    "FeedOutcome",
    "FeedState",
    "FetchResult",
    "ItemScore",
    "ParsedFeed",
    "ScoredItem",
]


@dataclass(frozen=True)
class FeedState:
    """What we remember about a feed between runs (a row of the ``feeds`` table)."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    error_count: int = 0
    next_fetch_at: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None
    first_error_at: datetime | None = None


@dataclass(frozen=True)
class FetchResult:
    """The raw answer for one feed. ``status`` 304 means not modified and ``body`` is empty."""

    url: str  # the URL we were asked to fetch (the feed's identity)
    final_url: str  # after redirects
    status: int
    body: bytes
    headers: Mapping[str, str]
    elapsed_seconds: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class FeedItem:
    """One normalised entry. ``item_id`` is stable across fetches of the same feed."""

    item_id: str
    feed_url: str
    guid: str
    url: str | None
    title: str
    summary: str
    author: str | None = None
    published_at: datetime | None = None  # UTC, tz-aware
    language: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    url: str
    title: str | None
    language: str | None
    items: tuple[FeedItem, ...]
    format: str  # e.g. "rss20", "atom10", "json1.1"
    warning: str | None = None  # a survivable bozo message worth logging


@dataclass(frozen=True)
class FeedOutcome:
    """What happened to one feed in one cycle. Exactly one per feed per cycle."""

    url: str
    status: Literal["ok", "not_modified", "failed", "skipped"]
    fetch: FetchResult | None = None
    feed: ParsedFeed | None = None
    error: FeedError | None = None
    new_items: int = 0
    elapsed_seconds: float = 0.0


@dataclass(frozen=True)
class ItemScore:
    """A theme score for one item: calibrated to [0, 1], with the evidence shown in digests."""

    item_id: str
    theme: str
    score: float
    matched: bool
    evidence: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredItem:
    """A stored item with its current score for one theme: what alerts and digests show.

    ``story_key`` is the canonical URL when the item has one, so the same story reached
    through several feeds is recognised as one.
    """

    item_id: str
    theme: str
    score: float
    title: str
    url: str | None
    summary: str
    feed_url: str
    feed_name: str | None
    fetched_at: datetime
    published_at: datetime | None = None
    feed_tags: tuple[str, ...] = ()
    evidence: Mapping[str, object] = field(default_factory=dict)

    @property
    def story_key(self) -> str:
        return self.url or self.item_id


@dataclass(frozen=True)
class CycleSummary:
    """What one monitoring cycle did; printed by ``silkwatch run`` and returned by the flow."""

    run_id: str
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    feeds_skipped: int = 0  # not due yet (backoff or Retry-After)
    new_items: int = 0
    items_scored: int = 0
    matches: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    elapsed_seconds: float = 0.0
    failures: tuple[tuple[str, str], ...] = ()  # (feed url, error message)
    lake_items: int = 0  # items published to the DuckLake this cycle
    lake_scores: int = 0  # scores published to the DuckLake this cycle
    lake_error: str | None = None  # why publishing failed (the next cycle retries)
