"""Alert selection as a pure function of (rules, scores, what was already sent)."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.select import effective_channel, select_alerts
from silkwatch.config import AlertRule
from silkwatch.types import ScoredItem

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)
THRESHOLDS = {"cities": 0.5, "trade": 0.6}


def row(
    item_id,
    theme,
    score,
    *,
    url=None,
    feed="https://f.example/a.xml",
    name="Feed A",
    tags=(),
    title="",
    summary="",
):
    return ScoredItem(
        item_id=item_id,
        theme=theme,
        score=score,
        title=title or item_id,
        url=url,
        summary=summary,
        feed_url=feed,
        feed_name=name,
        fetched_at=T0,
        feed_tags=tuple(tags),
    )


def rule(name="r", themes=("cities",), **kw):
    return AlertRule(name=name, themes=themes, **kw)


def ids(planned):
    return [(p.rule, p.channel, [m.item.item_id for m in p.matches]) for p in planned]


def test_default_min_score_is_the_theme_threshold_and_best_comes_first():
    scored = [
        row("low", "cities", 0.49),
        row("mid", "cities", 0.5),
        row("top", "cities", 0.9),
        row("other", "trade", 0.99),
    ]
    assert ids(select_alerts([rule()], scored, THRESHOLDS, set())) == [
        ("r", "email", ["top", "mid"])
    ]


def test_a_rule_min_score_overrides_the_threshold():
    scored = [row("a", "cities", 0.7), row("b", "cities", 0.85)]
    planned = select_alerts([rule(min_score=0.8)], scored, THRESHOLDS, set())
    assert ids(planned) == [("r", "email", ["b"])]


def test_an_item_matching_several_rule_themes_is_listed_once_with_all_of_them():
    scored = [row("a", "cities", 0.7), row("a", "trade", 0.9)]
    [planned] = select_alerts([rule(themes=("cities", "trade"))], scored, THRESHOLDS, set())
    [match] = planned.matches
    assert match.item.theme == "trade" and match.themes == (("trade", 0.9), ("cities", 0.7))


def test_feed_tag_and_keyword_filters():
    scored = [
        row("by-url", "cities", 0.9, feed="https://x.example/f"),
        row("by-name", "cities", 0.9, name="TechNode"),
        row("tagged", "cities", 0.9, tags=("sco",)),
        row("kw", "cities", 0.9, summary="New SAFE CITY deal"),
    ]
    cases = {
        "feeds-url": (rule(feeds=("https://x.example/f",)), ["by-url"]),
        "feeds-name": (rule(feeds=("TechNode",)), ["by-name"]),
        "tags": (rule(tags=("sco", "cpec")), ["tagged"]),
        "keywords": (rule(keywords=("safe city",)), ["kw"]),
    }
    for label, (r, expected) in cases.items():
        [planned] = select_alerts([r], scored, THRESHOLDS, set())
        assert [m.item.item_id for m in planned.matches] == expected, label


def test_one_story_reached_through_several_feeds_is_one_match():
    story = "https://n.example/story"
    scored = [
        row("f1", "cities", 0.7, url=story),
        row("f2", "cities", 0.8, url=story),
        row("solo", "cities", 0.6),
    ]
    assert ids(select_alerts([rule()], scored, THRESHOLDS, set())) == [
        ("r", "email", ["f2", "solo"])
    ]


def test_already_recorded_items_and_stories_are_skipped_per_rule_and_channel():
    story = "https://n.example/story"
    scored = [row("a", "cities", 0.9), row("b", "cities", 0.9, url=story), row("c", "cities", 0.9)]
    already = {("r", "email", "a"), ("r", "email", story), ("other", "email", "c")}
    two_channels = rule(channels=("email", "webhook:ops"))
    assert ids(select_alerts([two_channels], scored, THRESHOLDS, already)) == [
        ("r", "email", ["c"]),
        ("r", "webhook:ops", ["a", "b", "c"]),
    ]


def test_nothing_new_plans_nothing():
    assert (
        select_alerts([rule()], [row("a", "cities", 0.9)], THRESHOLDS, {("r", "email", "a")}) == []
    )


def test_email_without_a_server_is_recorded_as_outbox():
    assert effective_channel("email", email_configured=False) == "outbox"
    assert effective_channel("email", email_configured=True) == "email"
    assert effective_channel("webhook:ops", email_configured=False) == "webhook:ops"
