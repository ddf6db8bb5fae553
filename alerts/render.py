"""Turning stored items into what a reader sees: safe links, one-line reasons, templates.

Feed text is untrusted. Everything reaches HTML through Jinja2 with autoescape on, and
links are only ever http(s) URLs, so a title carrying ``<script>`` or a ``javascript:``
link arrives as harmless text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import jinja2

from silkwatch.types import ScoredItem

__all__ = [
    "html_env",
    "item_view",
    "safe_href",
    "source_name",
    "text_env",
    "why_line",
]

_MAX_WHY = 200


@cache
def html_env() -> jinja2.Environment:
    """Templates for HTML: autoescape on for every template, undefined names are errors."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("alerts", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def text_env() -> jinja2.Environment:
    """Templates for the plain-text parts: no escaping (it would show ``&amp;`` to readers)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("alerts", "templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def safe_href(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) link with a host, else ``None`` (shown unlinked)."""
    if not url:
        return None
    url = url.strip()
    if any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def source_name(item: ScoredItem) -> str:
    """The feed's configured name, else its host."""
    if item.feed_name:
        return item.feed_name
    return urlsplit(item.feed_url).hostname or item.feed_url


def _one_line(text: str, limit: int = _MAX_WHY) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _as_mapping(evidence: object) -> Mapping[str, Any]:
    if isinstance(evidence, str):
        try:
            evidence = json.loads(evidence)
        except ValueError:
            return {"sentence": evidence}
    return evidence if isinstance(evidence, Mapping) else {}


def why_line(evidence: object) -> str:
    """One line saying why an item matched, from the classifier's evidence.

    Tolerant of the evidence shape (the classifier may store the closest example, the
    item sentence that scored best and the matching terms under any of a few names).
    """
    ev = _as_mapping(evidence)
    parts = []
    for key in ("sentence", "best_sentence", "closest_sentence", "text"):
        if isinstance(ev.get(key), str) and ev[key].strip():
            parts.append(f"“{_one_line(ev[key], 120)}”")
            break
    for key in ("closest_example", "example", "nearest_example", "prototype"):
        if isinstance(ev.get(key), str) and ev[key].strip():
            parts.append(f"close to “{_one_line(ev[key], 100)}”")
            break
    for key in ("terms", "matched_terms", "keywords", "matching_terms"):
        terms = ev.get(key)
        if isinstance(terms, list | tuple) and terms:
            parts.append("terms: " + ", ".join(str(t) for t in list(terms)[:6]))
            break
    return _one_line("; ".join(parts))


def format_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def item_view(
    item: ScoredItem,
    labels: Mapping[str, str],
    themes: tuple[tuple[str, float], ...] = (),
) -> dict[str, Any]:
    """The plain values a template needs for one item (no markup: templates escape them)."""
    return {
        "item_id": item.item_id,
        "title": _one_line(item.title, 300) or "(untitled)",
        "href": safe_href(item.url),
        "url": item.url or "",
        "source": source_name(item),
        "when": format_time(item.published_at or item.fetched_at),
        "theme": item.theme,
        "theme_label": labels.get(item.theme, item.theme),
        "score": f"{item.score:.2f}",
        "themes": [
            {"theme": t, "label": labels.get(t, t), "score": f"{s:.2f}"}
            for t, s in (themes or ((item.theme, item.score),))
        ],
        "why": why_line(item.evidence),
    }
