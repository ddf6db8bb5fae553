"""Fetched bytes → ``ParsedFeed``: feedparser for RSS/Atom/RDF, our own reader for JSON Feed.

feedparser only ever sees bytes we downloaded, wrapped in a stream: given a ``str`` it would
fetch URLs itself, and given ``bytes`` it first tries ``open(body)`` as a *file name*, so a
hostile body such as ``/etc/passwd`` would be read from local disk.

Two feedparser options are switched off because we throw their work away: HTML sanitising
and relative-URI rewriting inside content (``sanitize_html=False``,
``resolve_relative_uris=False``). Titles and summaries become plain text in
``feeds.normalize.html_to_text`` and only links are kept, which feedparser still resolves
against ``xml:base`` and the feed's URL. That roughly halves parse time on news feeds.

The ``FeedParserDict`` is converted to our frozen ``FeedItem`` at once (typed at the
boundary); nothing downstream sees feedparser objects.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin

import feedparser

from feeds.jsonfeed import looks_like_json, parse_json_feed
from feeds.normalize import (
    canonical_url,
    content_hash,
    html_to_text,
    item_id,
    struct_time_to_utc,
)
from silkwatch.errors import ParseError
from silkwatch.types import FeedItem, FetchResult, ParsedFeed

__all__ = ["entry_guid", "entry_link", "parse_feed"]

# Bozo kinds that say "the labels were wrong" rather than "the document is broken": the
# entries are complete, so we keep them and only record a warning (as lemon24/reader does).
_SURVIVABLE_BOZO = (
    feedparser.CharacterEncodingOverride,
    feedparser.NonXMLContentType,
)
_GZIP_MAGIC = b"\x1f\x8b"
# An entity whose replacement text names another entity: the "billion laughs" pattern.
# Plain declarations (<!ENTITY id "tag:x,">) stay allowed; real feeds use them.
_NESTED_ENTITY = re.compile(rb"""<!ENTITY\s+%?\s*[\w.:-]+\s+(["'])[^"']*&[\w.:-]+;""")
_PROLOG_BYTES = 65536


def parse_feed(result: FetchResult) -> ParsedFeed:
    """Parse one fetched document; raise ``ParseError`` naming ``result.url`` if it is no feed.

    Errors: empty body, compressed bytes served without Content-Encoding, invalid JSON or
    JSON that is not a JSON Feed, documents that are not feeds (HTML pages, OPML), and
    broken documents from which feedparser recovered neither entries nor a feed title.
    feedparser itself raising (it does on a few real files) is also a ``ParseError``: a bad
    feed must never end a run. Broken documents from which entries (or at least the feed's
    title) *were* recovered are kept, with ``warning`` set, so their items still count.
    """
    url = result.url
    body = result.body
    if not body.strip():
        raise ParseError(url, "empty body: the server sent no document")
    if body.startswith(_GZIP_MAGIC):
        raise ParseError(url, "body is gzip-compressed but was not labelled Content-Encoding")
    headers = _lower_headers(result.headers)
    if looks_like_json(body, headers.get("content-type")):
        return parse_json_feed(result)
    if _NESTED_ENTITY.search(body, 0, _PROLOG_BYTES):
        raise ParseError(
            url, "document declares nested XML entities (entity-expansion attack); refused"
        )

    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers=_parser_headers(headers),
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser raises TypeError/KeyError/ValueError on some files
        raise ParseError(url, f"feedparser failed: {type(exc).__name__}: {exc}") from exc
    return _convert(result, parsed, _base_url(headers, result.final_url))


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _parser_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers feedparser should see: the response's, minus two it must not act on.

    Content-Encoding was already undone by httpx. Content-Location is dropped because
    feedparser then resolves every URI in the document against it, which measured ~30%
    of parse time on news feeds; we resolve the one link per entry we keep ourselves
    (``_base_url``), and feedparser still applies ``xml:base``.
    """
    out = dict(headers)
    out.pop("content-encoding", None)
    out.pop("content-location", None)
    return out


def _base_url(headers: dict[str, str], final_url: str) -> str:
    """What relative links resolve against: Content-Location if sent, else the final URL."""
    location = headers.get("content-location", "").strip()
    return urljoin(final_url, location) if location else final_url


def _convert(result: FetchResult, parsed: Any, base: str) -> ParsedFeed:
    url = result.url
    entries = parsed.get("entries") or []
    feed = dict(parsed.get("feed") or {})
    version = parsed.get("version") or ""
    title = html_to_text(feed.get("title")) or None
    warning = None
    reason = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else "not well-formed"
        warning = reason
        if isinstance(exc, _SURVIVABLE_BOZO):
            reason = None  # mislabelled, not broken
    if not entries:
        other = _other_document(result.body)
        if other and not version:
            raise ParseError(url, f"not a feed: the server sent {other}")
        if reason and not title:
            raise ParseError(url, f"not a readable feed ({reason})")
        if not version:
            raise ParseError(url, "not a feed: no RSS, Atom, RDF or JSON Feed document found")

    language = _language(feed.get("language"))
    items = list(_items(url, entries, base, language))
    return ParsedFeed(
        url=url,
        title=title,
        language=language,
        items=tuple(items),
        format=version or "unknown",
        warning=warning,
    )


def _other_document(body: bytes) -> str | None:
    """Name well-known non-feeds, for an error message a person can act on."""
    head = body[:2048].lower()
    if b"<html" in head or b"<!doctype html" in head:
        return "an HTML page"
    if b"<opml" in head:
        return "an OPML subscription list (import it with 'silkwatch feeds import-opml')"
    return None


def _items(
    feed_url: str, entries: Iterable[Any], base: str, feed_language: str | None
) -> Iterable[FeedItem]:
    """Entries as ``FeedItem``s, first occurrence of each guid only."""
    seen: set[str] = set()
    for parsed_entry in entries:
        # A plain dict: FeedParserDict.get maps missing keys to others (updated_parsed ->
        # published_parsed, with a DeprecationWarning) and is slow; we want exact keys.
        entry = dict(parsed_entry)
        link = entry_link(entry, base)
        title = html_to_text(entry.get("title"))
        summary = html_to_text(entry.get("summary") or _first_content(entry))
        published = struct_time_to_utc(
            entry.get("published_parsed")
            or entry.get("updated_parsed")
            or entry.get("created_parsed")
        )
        guid = entry_guid(entry, link, title, summary, published and published.isoformat())
        if guid in seen:
            continue
        seen.add(guid)
        yield FeedItem(
            item_id=item_id(feed_url, guid),
            feed_url=feed_url,
            guid=guid,
            url=link,
            title=title,
            summary=summary,
            author=_author(entry),
            published_at=published,
            language=_entry_language(entry) or feed_language,
        )


def entry_guid(
    entry: Mapping[str, Any],
    link: str | None,
    title: str,
    summary: str,
    published: str | None,
) -> str:
    """The entry's identity within its feed: its id, else its canonical link, else a hash.

    Public so the corpus benchmark can count "distinct entries" by the very same rule.
    """
    raw = entry.get("id")
    guid = raw.strip() if isinstance(raw, str) else ""
    return guid or link or content_hash(title, summary, published)


def entry_link(entry: Mapping[str, Any], base: str) -> str | None:
    """The entry's canonical link. feedparser copies an RSS ``<guid>`` into ``link`` when
    the guid is a permalink by default; a guid like ``item-42`` is no URL, so such a copied
    link counts only if it is already absolute."""
    link = entry.get("link")
    if (
        entry.get("guidislink")
        and isinstance(link, str)
        and not link.strip().lower().startswith(("http://", "https://"))
    ):
        return None
    return canonical_url(link, base)


def _author(entry: Mapping[str, Any]) -> str | None:
    """The author's name: ``author_detail.name`` when feedparser split "email (Name)"."""
    detail = entry.get("author_detail")
    name = detail.get("name") if isinstance(detail, Mapping) else None
    return html_to_text(name if isinstance(name, str) else entry.get("author")) or None


def _first_content(entry: Mapping[str, Any]) -> str | None:
    content = entry.get("content")
    if isinstance(content, list) and content:
        first = content[0]
        if isinstance(first, Mapping):
            value = first.get("value")
            return value if isinstance(value, str) else None
    return None


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    for key in ("title_detail", "summary_detail"):
        detail = entry.get(key)
        if isinstance(detail, Mapping):
            lang = _language(detail.get("language"))
            if lang:
                return lang
    return None


def _language(value: object) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value[:35] or None
    return None
