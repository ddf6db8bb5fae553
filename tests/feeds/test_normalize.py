from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from feeds.normalize import canonical_url, content_hash, html_to_text, item_id, struct_time_to_utc


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("https://Example.COM/a?b=1#frag", None, "https://example.com/a?b=1"),
        ("/x?utm_source=rss&utm_medium=feed&id=3", "http://e.test/feed", "http://e.test/x?id=3"),
        ("p?fbclid=abc&gclid=d&keep=1", "http://e.test/dir/feed", "http://e.test/dir/p?keep=1"),
        ("//cdn.e.test/img", "https://e.test/", "https://cdn.e.test/img"),
        ("http://e.test", None, "http://e.test/"),
        ("  http://e.test/a b  ", None, "http://e.test/a%20b"),
        ("https://例え.jp/ä", None, "https://xn--r8jz45g.jp/%C3%A4"),
        ("http://user@E.test:8080/p", None, "http://user@e.test:8080/p"),
        ("javascript:alert(1)", "http://e.test/", None),
        ("mailto:desk@e.test", None, None),
        ("file:///etc/passwd", None, None),
        ("relative/only", None, None),
        ("http://[::1", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_canonical_url(url: str | None, base: str | None, expected: str | None) -> None:
    assert canonical_url(url, base) == expected


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello <b>world</b>.</p><p>Next</p>", "Hello world. Next"),
        ("AT&amp;T &lt;3 &#8220;x&#8221; &eacute;", "AT&T <3 “x” é"),
        ("&lt;p&gt;escaped &lt;em&gt;twice&lt;/em&gt;&lt;/p&gt;", "escaped twice"),
        ("a < b and c > d", "a < b and c > d"),
        ("<script>alert(1)</script><style>x{}</style>kept<!-- gone -->", "kept"),
        ("line\n\n\tbreaks   and\u00a0nbsp", "line breaks and nbsp"),
        ("ctrl\x00\x08chars\x7f", "ctrlchars"),
        ("<unclosed tag", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_html_to_text(html: str | None, text: str) -> None:
    assert html_to_text(html) == text


def test_item_id_is_stable_short_and_scoped_by_feed() -> None:
    a = item_id("http://a.test/feed", "guid-1")
    assert a == item_id("http://a.test/feed", "guid-1")
    assert len(a) == 20 and int(a, 16) >= 0
    assert a != item_id("http://b.test/feed", "guid-1")
    assert a != item_id("http://a.test/feed", "guid-2")


def test_content_hash_depends_on_every_part() -> None:
    h = content_hash("title", "summary", None)
    assert h.startswith("sha256:")
    assert h == content_hash("title", "summary", None)
    assert h != content_hash("title", "summary", "2026-01-01")
    assert content_hash("ab", "c") != content_hash("a", "bc")


def test_struct_time_to_utc() -> None:
    parsed = time.strptime("2026-03-03 12:34:56", "%Y-%m-%d %H:%M:%S")
    assert struct_time_to_utc(parsed) == datetime(2026, 3, 3, 12, 34, 56, tzinfo=UTC)
    assert struct_time_to_utc((2026, 3, 3, 1, 2, 61, 0, 0, 0)) == datetime(
        2026, 3, 3, 1, 2, 59, tzinfo=UTC
    )  # leap second clamped
    for bad in [None, "2026", (2026, 2, 31, 0, 0, 0), (0, 1, 1, 0, 0, 0), (2026, 1)]:
        assert struct_time_to_utc(bad) is None
