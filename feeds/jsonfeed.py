"""JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1), which feedparser 6 cannot read.

Real JSON feeds are loose: versions written as ``"1.0"`` or ``http://…``, ids that are
numbers, blank or wrongly typed fields, the 1.0 ``author`` next to the 1.1 ``authors``. A
field of the wrong type is treated as absent rather than failing the whole feed; only input
that is not JSON, or JSON that is not a feed at all, is a ``ParseError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from feeds.normalize import canonical_url, content_hash, html_to_text, item_id
from silkwatch.errors import ParseError
from silkwatch.types import FeedItem, FetchResult, ParsedFeed

__all__ = ["JSON_MEDIA_TYPES", "looks_like_json", "parse_json_feed"]

JSON_MEDIA_TYPES = frozenset({"application/feed+json", "application/json"})
_FEED_KEYS = frozenset({"version", "items", "title", "home_page_url", "feed_url"})
_BOM = b"\xef\xbb\xbf"


def looks_like_json(body: bytes, content_type: str | None) -> bool:
    """True for a JSON media type, or a body whose first non-blank byte is ``{``."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in JSON_MEDIA_TYPES:
        return True
    head = body[:64]
    head = head.removeprefix(_BOM)
    return head.lstrip(b" \t\r\n").startswith(b"{")


def parse_json_feed(result: FetchResult) -> ParsedFeed:
    """Parse ``result.body`` as a JSON Feed; raise ``ParseError`` naming ``result.url``."""
    url = result.url
    try:
        doc = json.loads(result.body.removeprefix(_BOM).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ParseError(url, f"JSON feed is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except ValueError as exc:  # json.JSONDecodeError
        raise ParseError(url, f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ParseError(url, "invalid JSON: nested too deeply") from exc
    if not isinstance(doc, dict) or not _FEED_KEYS & doc.keys():
        raise ParseError(url, "JSON document is not a JSON Feed (no version, title or items)")

    version = _text(doc.get("version")) or ""
    fmt = "json1.1" if version.rstrip("/").endswith("1.1") else "json1.0"
    feed_language = _text(doc.get("language"))
    base = _text(doc.get("home_page_url")) or result.final_url
    raw_items = doc.get("items")
    items: list[FeedItem] = []
    seen: set[str] = set()
    feed_authors = _authors(doc)
    for raw in raw_items if isinstance(raw_items, list) else ():
        if not isinstance(raw, Mapping):
            continue
        item = _item(url, raw, base, feed_language, feed_authors)
        if item.guid not in seen:
            seen.add(item.guid)
            items.append(item)
    warning = None
    if raw_items is not None and not isinstance(raw_items, list):
        warning = "JSON Feed 'items' is not a list; no items read"
    return ParsedFeed(
        url=url,
        title=html_to_text(_text(doc.get("title"))) or None,
        language=feed_language,
        items=tuple(items),
        format=fmt,
        warning=warning,
    )


def _item(
    feed_url: str,
    raw: Mapping[str, Any],
    base: str,
    feed_language: str | None,
    feed_authors: str | None,
) -> FeedItem:
    link = canonical_url(_text(raw.get("url")) or _text(raw.get("external_url")), base)
    title = html_to_text(_text(raw.get("title")))
    summary = html_to_text(
        _text(raw.get("summary"))
        or _text(raw.get("content_text"))
        or _text(raw.get("content_html"))
    )
    published = _date(raw.get("date_published")) or _date(raw.get("date_modified"))
    raw_id = raw.get("id")
    # ids must be strings by the spec but are often numbers; booleans and objects are junk
    guid = (
        str(raw_id).strip()
        if isinstance(raw_id, str | int | float) and not isinstance(raw_id, bool)
        else ""
    )
    guid = guid or link or content_hash(title, summary, published and published.isoformat())
    return FeedItem(
        item_id=item_id(feed_url, guid),
        feed_url=feed_url,
        guid=guid,
        url=link,
        title=title,
        summary=summary,
        author=_authors(raw) or feed_authors,
        published_at=published,
        language=_text(raw.get("language")) or feed_language,
    )


def _text(value: object) -> str | None:
    """A non-blank stripped string, or None for anything else (wrong type, blank)."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def _authors(obj: Mapping[str, Any]) -> str | None:
    """Names from 1.1 ``authors`` (list) or 1.0 ``author`` (object), joined by ", "."""
    candidates: list[object] = []
    if isinstance(obj.get("authors"), list):
        candidates.extend(obj["authors"])
    if isinstance(obj.get("author"), Mapping):
        candidates.append(obj["author"])
    names = []
    for author in candidates:
        if isinstance(author, Mapping):
            name = _text(author.get("name"))
            if name and name not in names:
                names.append(html_to_text(name))
    return ", ".join(names) or None


def _date(value: object) -> datetime | None:
    """RFC 3339 date as UTC; naive times are taken as UTC; junk gives None."""
    text = _text(value)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
