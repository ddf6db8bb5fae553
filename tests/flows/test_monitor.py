"""The monitor flow end to end over loopback feeds: what `silkwatch run` does."""

from __future__ import annotations

import duckdb
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flows.monitor import monitor
from silkwatch.config import load_settings

pytestmark = pytest.mark.usefixtures("prefect_backend")


def conditional(body: bytes, etag: str = '"v1"'):
    """A handler that answers 304 when the client sends our ETag back, like a polite server."""

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, content_type="application/rss+xml", headers={"ETag": etag})

    return handler


def items(n: int, prefix: str) -> list[dict[str, str]]:
    return [
        {
            "title": f"{prefix} headline {i}",
            "link": f"https://news.example/{prefix}/{i}",
            "guid": f"{prefix}-{i}",
            "description": f"<p>Body of <b>{prefix}</b> story {i}</p>",
            "pubDate": "Mon, 23 Nov 2026 08:00:00 GMT",
        }
        for i in range(n)
    ]


def config_for(write_config, urls: list[str], extra: str = "") -> str:
    feeds = "".join(f'\n[[feeds]]\nurl = "{u}"\n' for u in urls)
    return str(write_config(f'[storage]\ndatabase = "sw.duckdb"\n{extra}\n{feeds}'))


def test_cycle_stores_new_items_and_second_cycle_gets_304(
    httpserver: HTTPServer, write_config, make_rss
):
    httpserver.expect_request("/a.xml").respond_with_handler(
        conditional(make_rss("A", items(5, "a")))
    )
    httpserver.expect_request("/b.xml").respond_with_handler(
        conditional(make_rss("B", items(3, "b")))
    )
    settings = load_settings(
        config_for(write_config, [httpserver.url_for("/a.xml"), httpserver.url_for("/b.xml")]),
        environ={},
    )

    first = monitor(settings=settings, classify=False, alert=False)
    assert (first.feeds_ok, first.feeds_failed, first.new_items) == (2, 0, 8)

    second = monitor(settings=settings, classify=False, alert=False)
    assert (second.feeds_not_modified, second.new_items) == (2, 0)

    with duckdb.connect(str(settings.storage.database), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM items").fetchone() == (8,)
        titles = {r[0] for r in db.execute("SELECT summary FROM items").fetchall()}
        assert "Body of a story 0" in titles  # markup gone, text kept
        statuses = db.execute(
            "SELECT status, count(*) FROM fetch_log GROUP BY status ORDER BY status"
        ).fetchall()
        assert statuses == [("not_modified", 2), ("ok", 2)]
        assert db.execute("SELECT count(*) FROM feeds WHERE etag = '\"v1\"'").fetchone() == (2,)


def test_a_bad_feed_is_recorded_and_the_cycle_completes(
    httpserver: HTTPServer, write_config, make_rss
):
    httpserver.expect_request("/good.xml").respond_with_data(
        make_rss("Good", items(2, "g")), content_type="application/rss+xml"
    )
    httpserver.expect_request("/broken.xml").respond_with_data("Internal error", status=500)
    httpserver.expect_request("/html.xml").respond_with_data(
        "<html><body>not a feed</body></html>", content_type="text/html"
    )
    urls = [httpserver.url_for(p) for p in ("/good.xml", "/broken.xml", "/html.xml")]
    settings = load_settings(config_for(write_config, urls), environ={})

    summary = monitor(settings=settings, classify=False, alert=False)

    assert (summary.feeds_ok, summary.feeds_failed, summary.new_items) == (1, 2, 2)
    with duckdb.connect(str(settings.storage.database), read_only=True) as db:
        rows = dict(
            db.execute("SELECT url, last_error FROM feeds WHERE error_count > 0").fetchall()
        )
    assert set(rows) == set(urls[1:])
    assert "500" in rows[urls[1]]
    assert all(err for err in rows.values())


def test_a_rate_limited_feed_is_not_asked_again_before_retry_after(
    httpserver: HTTPServer, write_config, make_rss
):
    httpserver.expect_request("/busy.xml").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "3600"}
    )
    settings = load_settings(
        config_for(write_config, [httpserver.url_for("/busy.xml")]), environ={}
    )

    first = monitor(settings=settings, classify=False, alert=False)
    second = monitor(settings=settings, classify=False, alert=False)

    assert first.feeds_failed == 1
    assert second.feeds_skipped == 1
    assert len([r for r, _ in httpserver.log if r.path == "/busy.xml"]) == 1
    with duckdb.connect(str(settings.storage.database), read_only=True) as db:
        status, wait = db.execute(
            "SELECT last_status, next_fetch_at - last_fetched_at FROM feeds"
        ).fetchone()
    assert status == "rate_limited"
    assert wait.total_seconds() >= 3590
