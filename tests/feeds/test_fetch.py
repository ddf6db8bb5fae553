"""Fetcher against real loopback servers: politeness, limits and every hostile answer."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from feeds.fetch import Fetcher
from silkwatch.config import FetchSettings
from silkwatch.errors import FetchError, RateLimitedError
from silkwatch.types import FeedState, FetchResult

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'


def settings(**overrides: object) -> FetchSettings:
    base: dict[str, object] = {"timeout_seconds": 5, "connect_timeout_seconds": 2}
    return FetchSettings(**{**base, **overrides})


def fetch(url: str, state: FeedState | None = None, **overrides: object) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(settings(**overrides)) as fetcher:
            return await fetcher.fetch(url, state or FeedState(url))

    return asyncio.run(go())


def fetch_error(url: str, **overrides: object) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, **overrides)
    assert info.value.url == url
    return info.value


# --- success and conditional requests ---------------------------------------------------


def test_200_returns_body_validators_and_sends_user_agent(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/feed", headers={"User-Agent": "silkwatch-test/1"}
    ).respond_with_data(
        FEED,
        content_type="application/rss+xml",
        headers={"ETag": '"v1"', "Last-Modified": "Tue, 03 Mar 2026 08:00:00 GMT"},
    )
    url = httpserver.url_for("/feed")
    result = fetch(url, user_agent="silkwatch-test/1")
    assert result.status == 200
    assert result.body == FEED
    assert result.url == result.final_url == url
    assert result.headers["etag"] == '"v1"'
    assert result.headers["last-modified"] == "Tue, 03 Mar 2026 08:00:00 GMT"
    assert result.headers["content-type"] == "application/rss+xml"


def test_conditional_request_sends_validators_and_honours_304(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/feed",
        headers={"If-None-Match": '"v1"', "If-Modified-Since": "Tue, 03 Mar 2026 08:00:00 GMT"},
    ).respond_with_data("", status=304, headers={"ETag": '"v1"'})
    url = httpserver.url_for("/feed")
    state = FeedState(url, etag='"v1"', last_modified="Tue, 03 Mar 2026 08:00:00 GMT")
    result = fetch(url, state)
    assert result.status == 304
    assert result.not_modified
    assert result.body == b""


def test_no_validators_sent_without_state(httpserver: HTTPServer) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(FEED, content_type="application/xml")

    httpserver.expect_request("/feed").respond_with_handler(handler)
    fetch(httpserver.url_for("/feed"))
    assert "If-None-Match" not in seen[0].headers
    assert "If-Modified-Since" not in seen[0].headers


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress)],
)
def test_compressed_bodies_are_decoded(httpserver: HTTPServer, encoding, compress) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        compress(FEED), headers={"Content-Encoding": encoding}, content_type="application/xml"
    )
    assert fetch(httpserver.url_for("/feed")).body == FEED


# --- status codes -----------------------------------------------------------------------


def test_429_with_retry_after_seconds(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "120"}
    )
    before = datetime.now(UTC)
    with pytest.raises(RateLimitedError) as info:
        fetch(httpserver.url_for("/feed"))
    after = datetime.now(UTC)
    err = info.value
    assert err.status_code == 429
    assert err.transient
    assert before + timedelta(seconds=120) <= err.retry_at <= after + timedelta(seconds=120)
    assert err.kind == "rate_limited"


def test_503_with_retry_after_http_date(httpserver: HTTPServer) -> None:
    when = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    httpserver.expect_request("/feed").respond_with_data(
        "maintenance", status=503, headers={"Retry-After": format_datetime(when, usegmt=True)}
    )
    with pytest.raises(RateLimitedError) as info:
        fetch(httpserver.url_for("/feed"))
    assert info.value.retry_at == when
    assert info.value.status_code == 503


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (503, True),
        (500, True),
        (502, True),
        (429, True),
        (408, True),
        (404, False),
        (410, False),
        (403, False),
    ],
)
def test_status_errors_are_classified(httpserver: HTTPServer, status: int, transient: bool) -> None:
    httpserver.expect_request("/feed").respond_with_data("no", status=status)
    err = fetch_error(httpserver.url_for("/feed"))
    assert type(err) is FetchError  # no Retry-After, so not RateLimitedError
    assert err.status_code == status
    assert err.transient is transient
    assert str(status) in str(err)


# --- redirects --------------------------------------------------------------------------


def test_redirect_chain_is_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/old").respond_with_data(
        "", status=301, headers={"Location": "/moved"}
    )
    httpserver.expect_request("/moved").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/feed")}
    )
    httpserver.expect_request("/feed").respond_with_data(FEED, content_type="application/xml")
    url = httpserver.url_for("/old")
    result = fetch(url)
    assert result.status == 200
    assert result.url == url
    assert result.final_url == httpserver.url_for("/feed")
    assert result.body == FEED


def test_endless_redirects_stop_at_the_cap(httpserver: HTTPServer) -> None:
    hits: list[str] = []

    def loop(request: Request) -> Response:
        hits.append(request.path)
        return Response("", status=302, headers={"Location": "/loop"})

    httpserver.expect_request("/loop").respond_with_handler(loop)
    err = fetch_error(httpserver.url_for("/loop"), max_redirects=3)
    assert "redirects" in str(err)
    assert not err.transient
    assert len(hits) == 4  # the request plus three redirects


def test_redirect_to_file_url_is_refused(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        "", status=302, headers={"Location": "file:///etc/passwd"}
    )
    err = fetch_error(httpserver.url_for("/feed"))
    assert "non-http(s)" in str(err)
    assert not err.transient


def test_non_http_feed_url_is_a_permanent_error() -> None:
    err = fetch_error("ftp://127.0.0.1/feed.xml")
    assert not err.transient


# --- size limits ------------------------------------------------------------------------


def test_oversized_body_with_content_length(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big").respond_with_data(b"x" * 5_000_000)
    err = fetch_error(httpserver.url_for("/big"), max_body_bytes=1_000_000)
    assert "larger than 1,000,000 bytes" in str(err)
    assert not err.transient


def test_oversized_streamed_body_is_cut_while_streaming(httpserver: HTTPServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(80):  # 5 MB in 64 KB chunks, no Content-Length
            yield b"x" * 65536

    httpserver.expect_request("/big").respond_with_handler(
        lambda request: Response(chunks(), content_type="application/xml")
    )
    err = fetch_error(httpserver.url_for("/big"), max_body_bytes=1_000_000)
    assert "larger than" in str(err)


def test_gzip_bomb_is_stopped_after_decompression(httpserver: HTTPServer) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    httpserver.expect_request("/bomb").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"}, content_type="application/xml"
    )
    err = fetch_error(httpserver.url_for("/bomb"), max_body_bytes=1_000_000)
    assert "after decompression" in str(err)


def test_corrupt_gzip_is_a_permanent_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/feed").respond_with_data(
        b"\x1f\x8b\x08\x00garbage-not-gzip", headers={"Content-Encoding": "gzip"}
    )
    err = fetch_error(httpserver.url_for("/feed"))
    assert "decompress" in str(err)
    assert not err.transient


# --- time limits and broken connections ---------------------------------------------------


def test_server_that_never_answers_times_out(silent_server: str) -> None:
    err = fetch_error(silent_server, timeout_seconds=0.5, connect_timeout_seconds=0.5)
    assert err.transient
    assert "timed out" in str(err) or "no complete response" in str(err)


def test_body_that_never_ends_hits_the_total_deadline(httpserver: HTTPServer) -> None:
    def trickle() -> Iterator[bytes]:
        yield b'<?xml version="1.0"?><rss version="2.0"><channel>'
        for _ in range(200):  # would take 20 s; the deadline is 1 s
            time.sleep(0.1)
            yield b"<!-- still here -->"

    httpserver.expect_request("/slow").respond_with_handler(
        lambda request: Response(trickle(), content_type="application/xml")
    )
    err = fetch_error(httpserver.url_for("/slow"), timeout_seconds=1)
    assert err.transient
    assert "no complete response within 1 s" in str(err)


def test_connection_reset_is_transient(resetting_server: str) -> None:
    err = fetch_error(resetting_server)
    assert err.transient
    assert "network error" in str(err)


def test_connection_refused_is_transient() -> None:
    err = fetch_error("http://127.0.0.1:9/feed.xml")  # discard port: nothing listens
    assert err.transient


# --- concurrency ------------------------------------------------------------------------


def _concurrency_seen(n_feeds: int, **overrides: object) -> int:
    """Fetch n feeds from one threaded server; return the most requests it saw at once."""
    lock = threading.Lock()
    active = 0
    peak = 0

    def handler(request: Request) -> Response:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.3)
        with lock:
            active -= 1
        return Response(FEED, content_type="application/xml")

    server = HTTPServer(threaded=True)
    server.expect_request("/feed").respond_with_handler(handler)
    server.start()
    try:
        urls = [server.url_for(f"/feed?n={i}") for i in range(n_feeds)]

        async def go() -> list[FetchResult]:
            async with Fetcher(settings(**overrides)) as fetcher:
                return await asyncio.gather(*(fetcher.fetch(u, FeedState(u)) for u in urls))

        results = asyncio.run(go())
        assert [r.status for r in results] == [200] * n_feeds
    finally:
        server.clear()
        server.stop()
    return peak


def test_per_host_concurrency_limit_is_observed() -> None:
    assert _concurrency_seen(6, concurrency=16, per_host_concurrency=2) == 2


def test_total_concurrency_limit_is_observed() -> None:
    assert _concurrency_seen(6, concurrency=3, per_host_concurrency=10) == 3


def test_fetch_outside_context_manager_is_a_programming_error() -> None:
    async def go() -> None:
        await Fetcher(settings()).fetch("http://127.0.0.1/", FeedState("http://127.0.0.1/"))

    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(go())
