"""The daily digest: what matched in a period, per theme, best first; rendered to email.

``digest_context`` is a pure function of the matches, the history and the period, so
ranking, counting and the chart are tested with plain values; the templates only lay
the values out (HTML with inline CSS and no scripts, plus a plain-text part).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from alerts.message import build_email, message_id_for
from alerts.render import format_time, html_env, item_view, safe_href, text_env
from silkwatch.config import Theme
from silkwatch.types import ScoredItem

__all__ = [
    "CHART_DAYS",
    "FailingFeed",
    "digest_context",
    "digest_email",
    "render_digest_html",
    "render_digest_text",
]

CHART_DAYS = 14
_BAR_MAX_PX = 36
_SPARKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class FailingFeed:
    """A feed that has been failing since ``since`` (listed in the digest footer)."""

    url: str
    name: str | None
    since: datetime
    error: str | None


def _best_per_story(rows: Iterable[ScoredItem]) -> list[ScoredItem]:
    best: dict[str, ScoredItem] = {}
    for r in rows:
        cur = best.get(r.story_key)
        if cur is None or (r.score, cur.item_id) > (cur.score, r.item_id):
            best[r.story_key] = r
    return sorted(best.values(), key=lambda r: (-r.score, r.item_id))


def _chart(
    themes: Sequence[Theme],
    history: Iterable[tuple[str, datetime, str]],
    last_day: date,
    tz: ZoneInfo,
) -> dict[str, Any]:
    days = [last_day - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS)]
    stories: dict[tuple[str, date], set[str]] = {}
    for theme, when, story in history:
        day = when.astimezone(tz).date()
        if days[0] <= day <= last_day:
            stories.setdefault((theme, day), set()).add(story)
    counts = {key: len(v) for key, v in stories.items()}
    peak = max(counts.values(), default=0)
    rows = []
    for t in themes:
        cells = []
        for d in days:
            n = counts.get((t.name, d), 0)
            height = round(_BAR_MAX_PX * n / peak) if peak else 0
            cells.append(
                {
                    "day": d.isoformat(),
                    "count": n,
                    "height": max(height, 2 if n else 0),
                    "spark": _SPARKS[min(len(_SPARKS) - 1, (len(_SPARKS) * n) // (peak + 1))]
                    if n
                    else "·",
                }
            )
        rows.append(
            {
                "label": t.label,
                "cells": cells,
                "total": sum(c["count"] for c in cells),
                "spark": "".join(c["spark"] for c in cells),
            }
        )
    return {
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "peak": peak,
        "bar_max": _BAR_MAX_PX,
        "rows": rows,
    }


def digest_context(
    *,
    themes: Sequence[Theme],
    matches: Iterable[ScoredItem],
    history: Iterable[tuple[str, datetime, str]],
    failing: Sequence[FailingFeed],
    period_start: datetime,
    period_end: datetime,
    max_items: int,
    tz: ZoneInfo | None = None,
) -> dict[str, Any]:
    """Everything the digest templates show.

    ``matches`` are the period's matched (item, theme) rows; ``history`` is
    ``(theme, fetched_at, story_key)`` for matches of the last two weeks, for the chart.
    Each theme lists one item per story (the best-scoring copy), best first, up to
    ``max_items``; its count is the number of distinct stories in the period.
    """
    tz = tz or ZoneInfo("UTC")
    labels = {t.name: t.label for t in themes}
    by_theme: dict[str, list[ScoredItem]] = {t.name: [] for t in themes}
    for m in matches:
        if m.theme in by_theme:
            by_theme[m.theme].append(m)
    sections = []
    for t in themes:
        ranked = _best_per_story(by_theme[t.name])
        sections.append(
            {
                "theme": t.name,
                "label": t.label,
                "count": len(ranked),
                "entries": [item_view(r, labels) for r in ranked[:max_items]],
                "more": max(0, len(ranked) - max_items),
            }
        )
    total_stories = len({m.story_key for rows in by_theme.values() for m in rows})
    last_day = (period_end - timedelta(microseconds=1)).astimezone(tz).date()
    return {
        "period_start": format_time(period_start),
        "period_end": format_time(period_end),
        "title": f"silkwatch digest for {last_day.isoformat()}",
        "total": total_stories,
        "themes_with_matches": sum(1 for s in sections if s["count"]),
        "sections": sections,
        "chart": _chart(themes, history, last_day, tz),
        "failing": [
            {
                "name": f.name or f.url,
                "href": safe_href(f.url),
                "url": f.url,
                "since": format_time(f.since),
                "error": " ".join((f.error or "").split())[:200],
            }
            for f in failing
        ],
    }


def render_digest_html(context: dict[str, Any]) -> str:
    return html_env().get_template("digest.html.j2").render(context)


def render_digest_text(context: dict[str, Any]) -> str:
    return text_env().get_template("digest.txt.j2").render(context)


def digest_email(
    context: dict[str, Any],
    *,
    sender: str,
    recipient: str,
    created_at: datetime,
    message_id: str | None = None,
) -> EmailMessage:
    """One digest message for one recipient (each recipient's delivery is recorded apart)."""
    total, themes = context["total"], context["themes_with_matches"]
    subject = (
        f"[silkwatch] {context['title']}: {total} match{'es' if total != 1 else ''}"
        f" in {themes} theme{'s' if themes != 1 else ''}"
    )
    return build_email(
        subject=subject,
        text=render_digest_text(context),
        html=render_digest_html(context),
        sender=sender,
        recipients=[recipient],
        message_id=message_id
        or message_id_for(
            "digest", context["period_start"], context["period_end"], recipient, sender=sender
        ),
        created_at=created_at.astimezone(UTC),
    )
