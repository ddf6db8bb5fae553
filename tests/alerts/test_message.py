"""Alert emails: multipart, stable Message-ID, untrusted feed text kept harmless."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from alerts.message import alert_email, message_id_for
from alerts.render import safe_href, why_line
from alerts.select import AlertMatch, PlannedAlert
from silkwatch.types import ScoredItem

T0 = datetime(2026, 11, 23, 12, tzinfo=UTC)


def planned(*items: ScoredItem, rule: str = "cities", channel: str = "email") -> PlannedAlert:
    return PlannedAlert(rule, channel, tuple(AlertMatch(i, ((i.theme, i.score),)) for i in items))


def item(item_id: str, title: str, url: str | None = None, summary: str = "") -> ScoredItem:
    return ScoredItem(
        item_id=item_id,
        theme="smart_cities",
        score=0.8,
        title=title,
        url=url,
        summary=summary,
        feed_url="https://f.example/a.xml",
        feed_name="Feed A",
        fetched_at=T0,
        evidence={"sentence": summary or title},
    )


def render(p: PlannedAlert):
    msg = alert_email(
        p,
        labels={"smart_cities": "Smart cities"},
        sender="sw@alerts.example",
        recipients=["a@example.org", "b@example.org"],
        created_at=T0,
    )
    return message_from_bytes(msg.as_bytes(), policy=policy.default)


def test_message_id_depends_on_rule_channel_and_the_set_of_items_only():
    a, b = item("a", "A"), item("b", "B")
    first = render(planned(a, b))["Message-ID"]
    assert render(planned(b, a))["Message-ID"] == first
    assert render(planned(a))["Message-ID"] != first
    assert render(planned(a, b, rule="other"))["Message-ID"] != first
    assert message_id_for("cities", "webhook:x", "a", "b") != message_id_for(
        "cities", "email", "a", "b"
    )
    assert first.endswith("@alerts.example>")


def test_alert_email_is_multipart_with_text_and_html_naming_each_item():
    msg = render(planned(item("a", "City Brain", "https://n.example/a"), item("b", "Traffic AI")))
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == "[silkwatch] cities: 2 new matches — City Brain"
    assert msg["To"] == "a@example.org, b@example.org"
    assert msg["Date"] == "Mon, 23 Nov 2026 12:00:00 +0000"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (text, html):
        assert "City Brain" in part and "Traffic AI" in part and "Feed A" in part
    assert '<a href="https://n.example/a"' in html
    assert "<script" not in html.lower()


def test_hostile_feed_text_is_escaped_and_javascript_links_are_dropped():
    hostile = item(
        "x",
        '<script>alert(1)</script>"><img src=x onerror=alert(2)>',
        "javascript:alert(3)",
        summary='<a href="javascript:alert(4)">click</a>',
    )
    msg = render(planned(hostile))
    html = msg.get_body(("html",)).get_content()
    assert (
        "<script" not in html and "<img" not in html and "javascript:" not in html.split("Why:")[0]
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript' not in html
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]


def test_a_title_cannot_inject_headers():
    msg = render(planned(item("x", "Hi\r\nBcc: victim@example.org\r\n\r\nbody")))
    assert msg["Bcc"] is None
    assert msg["Subject"].startswith("[silkwatch] cities: 1 new match — Hi Bcc:")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://n.example/a?x=1&y=2", True),
        ("http://n.example/", True),
        ("HTTPS://N.EXAMPLE/", True),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox(1)", False),
        ("//evil.example/x", False),
        ("/relative", False),
        ("https://", False),
        ("https://n.example/a b", False),
        (None, False),
    ],
)
def test_only_absolute_http_links_are_kept(url, ok):
    assert (safe_href(url) is not None) is ok


def test_why_line_reads_the_classifier_evidence():
    ev = {
        "sentence": "Hangzhou's City Brain now runs 1,300 traffic lights.",
        "example": "A city AI platform manages traffic.",
        "similarity": 0.71,
        "keywords": ["city brain", "traffic"],
    }
    assert why_line(ev) == (
        "“Hangzhou's City Brain now runs 1,300 traffic lights.”; close to “A city AI platform "
        "manages traffic.”; terms: city brain, traffic"
    )
    assert why_line('{"keywords": ["5G"]}') == "terms: 5G"
    assert why_line({}) == "" and why_line(None) == ""
    assert len(why_line({"sentence": "word " * 200})) <= 200
