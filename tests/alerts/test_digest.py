"""The digest: per-theme sections ranked by score, counts, chart, footer; sent once per period."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from alerts.digest import FailingFeed, digest_context, render_digest_html, render_digest_text
from flows.digest import send_digest
from silkwatch.config import Theme
from silkwatch.types import ScoredItem

T_END = datetime(2026, 11, 23, 7, tzinfo=UTC)
THEMES = (
    Theme(name="cities", label="Smart cities", description="d", examples=("e",)),
    Theme(name="trade", label="SCO e-commerce", description="d", examples=("e",)),
    Theme(name="rules", label="Tech regulation", description="d", examples=("e",)),
)

HOSTILE = [
    {
        "id": "x1",
        "title": "<script>document.title='pwned'</script>Safe city tender",
        "url": "javascript:alert(document.cookie)",
        "summary": "<b>bold</b>",
        "scores": {"smart_cities": 0.97},
    },
    {
        "id": "x2",
        "title": 'Cameras <img src=x onerror="alert(1)"> in Almaty',
        "url": "https://n.example/x2",
        "scores": {"smart_cities": 0.8},
        "evidence": {
            "smart_cities": {"sentence": "<svg onload=alert(2)>", "keywords": ["cameras"]}
        },
    },
]


def scored(item_id, theme, score, hours_before_end=2, url=None, title=None):
    return ScoredItem(
        item_id=item_id,
        theme=theme,
        score=score,
        title=title or item_id,
        url=url,
        summary="",
        feed_url="https://f.example/",
        feed_name="Feed",
        fetched_at=T_END - timedelta(hours=hours_before_end),
    )


def context(matches, history=(), failing=(), max_items=20):
    return digest_context(
        themes=THEMES,
        matches=matches,
        history=history,
        failing=failing,
        period_start=T_END - timedelta(hours=24),
        period_end=T_END,
        max_items=max_items,
        tz=ZoneInfo("UTC"),
    )


def test_sections_rank_by_score_count_stories_and_cap_the_list():
    ctx = context(
        [
            scored("a", "cities", 0.6),
            scored("b", "cities", 0.9),
            scored("c", "cities", 0.7),
            scored("d1", "trade", 0.8, url="https://n.example/d"),
            scored("d2", "trade", 0.85, url="https://n.example/d"),  # same story, other feed
        ],
        max_items=2,
    )
    sections = {s["theme"]: s for s in ctx["sections"]}
    assert [i["item_id"] for i in sections["cities"]["entries"]] == ["b", "c"]
    assert (sections["cities"]["count"], sections["cities"]["more"]) == (3, 1)
    assert [i["item_id"] for i in sections["trade"]["entries"]] == ["d2"]
    assert sections["trade"]["count"] == 1 and sections["rules"]["count"] == 0
    assert ctx["total"] == 4 and ctx["themes_with_matches"] == 2


def test_chart_counts_stories_per_theme_per_day_over_two_weeks():
    history = [
        ("cities", T_END - timedelta(hours=1), "s1"),
        ("cities", T_END - timedelta(hours=2), "s2"),
        ("cities", T_END - timedelta(hours=3), "s2"),  # same story twice: counted once
        ("trade", T_END - timedelta(days=3, hours=1), "s3"),
        ("trade", T_END - timedelta(days=20), "s4"),  # outside the two weeks
    ]
    chart = context([], history=history)["chart"]
    assert (chart["first_day"], chart["last_day"]) == ("2026-11-10", "2026-11-23")
    rows = {r["label"]: r for r in chart["rows"]}
    assert [c["count"] for c in rows["Smart cities"]["cells"]][-1] == 2
    assert rows["Smart cities"]["total"] == 2
    assert [c["day"] for c in rows["SCO e-commerce"]["cells"] if c["count"]] == ["2026-11-20"]
    assert rows["Tech regulation"]["total"] == 0
    assert all(len(r["cells"]) == 14 for r in chart["rows"])


class Reader(HTMLParser):
    """Collects what matters for safety: tags, attributes, links, and the visible text."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_mail_safe_and_hostile_text_is_inert():
    ctx = context(
        [
            scored(
                "x",
                "cities",
                0.9,
                url="javascript:alert(1)",
                title="<script>alert(1)</script> onerror=alert(2)",
            ),
            scored("y", "cities", 0.8, url="https://n.example/y", title="Fine"),
        ],
        failing=[
            FailingFeed(
                "https://broken.example/rss",
                "Broken <b>feed</b>",
                T_END - timedelta(days=3),
                "HTTP 500",
            )
        ],
    )
    reader = Reader()
    reader.feed(render_digest_html(ctx))
    assert "script" not in reader.tags and "style" not in reader.tags
    assert not [a for a, _ in reader.attrs if a.startswith("on")]
    hrefs = [v for a, v in reader.attrs if a == "href"]
    assert hrefs == ["https://n.example/y", "https://broken.example/rss"]
    visible = " ".join("".join(reader.text).split())
    assert "<script>alert(1)</script> onerror=alert(2)" in visible
    assert "Broken <b>feed</b> since 2026-11-20 07:00 UTC: HTTP 500" in visible

    text = render_digest_text(ctx)
    assert "<script>alert(1)</script> onerror=alert(2)" in text  # plain text stays literal
    assert "javascript:" not in text


def digest_config(port: int) -> str:
    return f"""
[email]
host = "127.0.0.1"
port = {port}
sender = "digest@alerts.example"
recipients = ["a@example.org", "b@example.org"]

[alerts]
rules = []
"""


def test_send_digest_mails_each_recipient_once_per_period(
    alert_settings, seed, smtp_server, query, now
):
    settings = alert_settings(digest_config(smtp_server.port))
    seed(
        settings,
        [
            {
                "id": "c1",
                "title": "City Brain in Almaty",
                "url": "https://n.example/c1",
                "scores": {"smart_cities": 0.9, "sco_ecommerce": 0.1},
            },
            {"id": "c2", "title": "Traffic AI tender", "scores": {"smart_cities": 0.6}},
            {"id": "s1", "title": "Ozon Almaty hub", "scores": {"sco_ecommerce": 0.75}},
            {
                "id": "old",
                "title": "Last week's news",
                "age_hours": 30,
                "scores": {"smart_cities": 0.99},
            },
            {"id": "miss", "title": "Football", "scores": {"smart_cities": 0.1}},
        ],
    )

    result = send_digest(settings, now=now)

    assert result.sent == ("a@example.org", "b@example.org") and result.items == 3
    assert [m["To"] for m in smtp_server.messages] == ["a@example.org", "b@example.org"]
    msg = smtp_server.messages[0]
    assert msg.get_content_type() == "multipart/alternative"
    html = msg.get_body(("html",)).get_content()
    order = [t for t in re.findall(r">([^<>]+)</a>", html)]
    assert order == ["City Brain in Almaty"]  # c2 has no URL: shown, not linked
    text = msg.get_body(("plain",)).get_content()
    assert text.index("City Brain in Almaty") < text.index("Traffic AI tender")
    assert "Ozon Almaty hub" in text and "Football" not in text and "Last week" not in text
    recorded = query(
        settings, "SELECT recipient, status, items, message_id FROM digests_sent ORDER BY recipient"
    )
    assert [(r, s, n) for r, s, n, _ in recorded] == [
        ("a@example.org", "sent", 3),
        ("b@example.org", "sent", 3),
    ]
    assert recorded[0][3] == msg["Message-ID"]

    again = send_digest(settings, now=now + timedelta(minutes=20))
    assert again.sent == () and again.skipped == ("a@example.org", "b@example.org")
    assert len(smtp_server.messages) == 2

    forced = send_digest(
        settings, now=now + timedelta(minutes=25), force=True, to=["c@example.org", "a@example.org"]
    )
    assert forced.sent == ("c@example.org", "a@example.org")
    assert smtp_server.messages[3]["Message-ID"] != msg["Message-ID"]


def test_a_failed_digest_is_retried_with_the_same_message_id(
    alert_settings, seed, make_smtp_server, query, unused_port, now
):
    settings = alert_settings(digest_config(unused_port))
    seed(settings, [{"id": "c1", "title": "City Brain", "scores": {"smart_cities": 0.9}}])

    down = send_digest(settings, now=now, to=["a@example.org"])
    assert down.sent == () and down.failed[0][0] == "a@example.org"
    assert f"127.0.0.1:{unused_port}" in down.failed[0][1]
    [(status, message_id)] = query(settings, "SELECT status, message_id FROM digests_sent")
    assert status == "failed"

    server = make_smtp_server(port=unused_port)
    up = send_digest(settings, now=now + timedelta(minutes=5), to=["a@example.org"])
    assert up.sent == ("a@example.org",)
    assert server.messages[0]["Message-ID"] == message_id


def test_without_email_the_digest_goes_to_the_outbox_and_output_writes_html(
    alert_settings, seed, tmp_path, query, now
):
    settings = alert_settings("[alerts]\nrules = []")
    seed(settings, HOSTILE)

    result = send_digest(settings, now=now)
    [path] = result.outbox
    assert path.endswith(".eml") and str(settings.storage.outbox) in path

    out = tmp_path / "digest.html"
    preview = send_digest(settings, now=now, output=out)
    assert preview.output == str(out) and preview.sent == ()
    html = out.read_text("utf-8")
    assert "<script" not in html and 'onerror="' not in html and "javascript:" not in html
    assert "&lt;script&gt;" in html and "Safe city tender" in html
    assert query(settings, "SELECT count(*) FROM digests_sent") == [(1,)]  # preview not recorded
