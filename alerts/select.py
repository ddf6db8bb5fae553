"""Which scored items each alert rule sends, on which channel: pure decisions, no I/O.

Kept free of the database and the network so the rules that make alerts "exactly once"
(never twice per rule and channel, never twice for one story) are tested with plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from silkwatch.config import AlertRule
from silkwatch.types import ScoredItem

__all__ = [
    "AlertMatch",
    "PlannedAlert",
    "effective_channel",
    "min_score_for",
    "rule_accepts",
    "select_alerts",
]


@dataclass(frozen=True)
class AlertMatch:
    """One item in an alert: the row of its best theme, and every rule theme it matched."""

    item: ScoredItem
    themes: tuple[tuple[str, float], ...]  # (theme, score), best first


@dataclass(frozen=True)
class PlannedAlert:
    """One message to send: a rule's new matches on one channel, best first."""

    rule: str
    channel: str
    matches: tuple[AlertMatch, ...]

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(sorted(m.item.item_id for m in self.matches))


def effective_channel(channel: str, *, email_configured: bool) -> str:
    """The channel a delivery is recorded under: ``email`` becomes ``outbox`` without [email].

    Recorded separately so that configuring a mail server later does not count the
    ``.eml`` files written meanwhile as delivered email.
    """
    if channel == "email" and not email_configured:
        return "outbox"
    return channel


def min_score_for(rule: AlertRule, theme: str, thresholds: Mapping[str, float]) -> float:
    """A rule's own ``min_score`` if set, else the theme's match threshold."""
    return rule.min_score if rule.min_score is not None else thresholds[theme]


def rule_accepts(rule: AlertRule, item: ScoredItem) -> bool:
    """The rule's feed, tag and keyword filters (each one, when given, must pass)."""
    if rule.feeds and item.feed_url not in rule.feeds and item.feed_name not in rule.feeds:
        return False
    if rule.tags and not set(rule.tags) & set(item.feed_tags):
        return False
    if rule.keywords:
        text = f"{item.title}\n{item.summary}".casefold()
        if not any(k.casefold() in text for k in rule.keywords):
            return False
    return True


def _rule_matches(
    rule: AlertRule, scored: Iterable[ScoredItem], thresholds: Mapping[str, float]
) -> list[AlertMatch]:
    """Items passing the rule, one per story (the best-scoring item of that story wins)."""
    by_item: dict[str, list[ScoredItem]] = {}
    for row in scored:
        if row.theme not in rule.themes or row.score < min_score_for(rule, row.theme, thresholds):
            continue
        if not rule_accepts(rule, row):
            continue
        by_item.setdefault(row.item_id, []).append(row)
    matches = []
    for rows in by_item.values():
        rows.sort(key=lambda r: (-r.score, r.theme))
        matches.append(AlertMatch(rows[0], tuple((r.theme, r.score) for r in rows)))
    # Best first; ties broken by id so the same input always gives the same message.
    matches.sort(key=lambda m: (-m.item.score, m.item.item_id))
    seen: set[str] = set()
    unique = []
    for m in matches:
        if m.item.story_key not in seen:
            seen.add(m.item.story_key)
            unique.append(m)
    return unique


def select_alerts(
    rules: Iterable[AlertRule],
    scored: Iterable[ScoredItem],
    thresholds: Mapping[str, float],
    already: Collection[tuple[str, str, str]],
    channel_for: Callable[[str], str] = lambda ch: ch,
) -> list[PlannedAlert]:
    """One planned message per rule and channel that has new matches.

    ``already`` holds ``(rule, channel, key)`` for every recorded delivery, whatever its
    status, where ``key`` is both its item id and its story key: an item or a story that
    was ever queued for a rule and channel is never queued again (a failed one is retried
    from its stored message, not re-planned).
    """
    scored = list(scored)
    planned = []
    for rule in rules:
        matches = _rule_matches(rule, scored, thresholds)
        for configured in dict.fromkeys(rule.channels):
            channel = channel_for(configured)
            new = tuple(
                m
                for m in matches
                if (rule.name, channel, m.item.item_id) not in already
                and (rule.name, channel, m.item.story_key) not in already
            )
            if new:
                planned.append(PlannedAlert(rule.name, channel, new))
    return planned
