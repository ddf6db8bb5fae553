"""Golden-file parser cases: ``data/<case>.xml|.json`` + ``data/<case>.expected.json``.

Each case is parsed from bytes and, separately, fetched over a loopback server and parsed,
so the real Content-Type/Content-Encoding path is covered too. Expected files name URLs
under ``http://fetched.example.test`` (where the case was "fetched from"); the loopback
variant rewrites that prefix to the server's.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from feeds.fetch import Fetcher
from feeds.normalize import item_id
from feeds.parse import parse_feed
from silkwatch.config import FetchSettings
from silkwatch.errors import ParseError
from silkwatch.types import FeedState, FetchResult, ParsedFeed

DATA = Path(__file__).parent / "data"
ORIGIN = "http://fetched.example.test"
CASES = sorted(
    p for p in DATA.iterdir() if p.suffix in (".xml", ".json") and ".expected" not in p.name
)


def content_type(path: Path) -> str:
    return "application/feed+json" if path.suffix == ".json" else "application/xml"


def expected_for(path: Path, origin: str = ORIGIN) -> dict[str, Any]:
    text = path.with_name(path.name.rsplit(".", 1)[0] + ".expected.json").read_text("utf-8")
    return json.loads(text.replace(ORIGIN, origin))


def as_dict(feed: ParsedFeed) -> dict[str, Any]:
    return {
        "format": feed.format,
        "title": feed.title,
        "language": feed.language,
        "warning": feed.warning is not None,
        "items": [
            {
                "guid": i.guid,
                "url": i.url,
                "title": i.title,
                "summary": i.summary,
                "author": i.author,
                "published_at": i.published_at.isoformat() if i.published_at else None,
                "language": i.language,
            }
            for i in feed.items
        ],
    }


def check(result: FetchResult, expected: dict[str, Any]) -> None:
    if "error" in expected:
        with pytest.raises(ParseError) as info:
            parse_feed(result)
        assert info.value.url == result.url
        assert expected["error"] in str(info.value)
        return
    feed = parse_feed(result)
    assert as_dict(feed) == expected
    for item in feed.items:
        assert item.feed_url == result.url
        assert item.item_id == item_id(result.url, item.guid)
        assert item.published_at is None or item.published_at.utcoffset().total_seconds() == 0


def test_every_case_has_an_expectation() -> None:
    assert len(CASES) >= 18
    for case in CASES:
        assert expected_for(case) is not None


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_from_bytes(case: Path) -> None:
    url = f"{ORIGIN}/golden/{case.name}"
    result = FetchResult(
        url=url,
        final_url=url,
        status=200,
        body=case.read_bytes(),
        headers={"content-type": content_type(case)},
    )
    check(result, expected_for(case))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_over_loopback(case: Path, httpserver: HTTPServer) -> None:
    path = f"/golden/{case.name}"
    httpserver.expect_request(path).respond_with_data(
        case.read_bytes(), content_type=content_type(case)
    )
    url = httpserver.url_for(path)

    async def fetch() -> FetchResult:
        async with Fetcher(FetchSettings(timeout_seconds=10)) as fetcher:
            return await fetcher.fetch(url, FeedState(url))

    result = asyncio.run(fetch())
    check(result, expected_for(case, origin=httpserver.url_for("").rstrip("/")))
