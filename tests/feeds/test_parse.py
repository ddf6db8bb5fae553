"""parse_feed cases that need specific bytes or headers (the rest are golden files)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from feeds.parse import parse_feed
from silkwatch.errors import ParseError
from silkwatch.types import FetchResult

URL = "http://fetched.example.test/feed"
DATA = Path(__file__).parent / "data"


def rss(items: str) -> bytes:
    return f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()


def result(body: bytes, content_type: str = "application/xml", **headers: str) -> FetchResult:
    return FetchResult(
        url=URL,
        final_url=URL,
        status=200,
        body=body,
        headers={"content-type": content_type, **headers},
    )


def parse_error(res: FetchResult) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_feed(res)
    assert info.value.url == URL
    return info.value


def test_feedparser_crash_becomes_parse_error() -> None:
    # feedparser 6.0.14 raises ValueError on a non-numeric EPSG code in a GML srsName.
    body = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:georss="http://www.georss.org/georss" xmlns:gml="http://www.opengis.net/gml">
<channel><title>Geo</title><item><title>Point</title><georss:where>
<gml:Point srsName="urn:ogc:def:crs:EPSG:6.6:abc"><gml:pos>45 10</gml:pos></gml:Point>
</georss:where></item></channel></rss>"""
    err = parse_error(result(body))
    assert "feedparser failed" in str(err)
    assert isinstance(err.__cause__, Exception)


def test_body_is_never_treated_as_a_file_name(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(
        b'<rss version="2.0"><channel><title>Local file</title>'
        b"<item><title>leaked</title></item></channel></rss>"
    )
    err = parse_error(result(str(secret).encode()))
    assert "Local file" not in str(err)


def test_raw_gzip_body_is_named() -> None:
    body = gzip.compress((DATA / "rss20_basic.xml").read_bytes())
    assert "gzip-compressed" in str(parse_error(result(body)))


def test_whitespace_only_body_is_empty() -> None:
    assert "empty body" in str(parse_error(result(b"  \r\n\t ")))


def test_json_sniffed_without_json_content_type() -> None:
    body = b'\xef\xbb\xbf \n{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "a"}]}'
    feed = parse_feed(result(body, content_type="text/plain"))
    assert feed.format == "json1.1"
    assert [i.guid for i in feed.items] == ["a"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2, 3]", "not a JSON Feed"),
        (b'{"hello": "world"}', "not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1", "items": [', "invalid JSON"),
        (b'{"title": "\xff\xfe"}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON"),
    ],
)
def test_bad_json(body: bytes, message: str) -> None:
    assert message in str(parse_error(result(body, content_type="application/json")))


def test_json_items_not_a_list_is_a_warning() -> None:
    feed = parse_feed(result(b'{"version": "1.1", "title": "T", "items": {"id": 1}}'))
    assert feed.items == ()
    assert feed.warning is not None and "not a list" in feed.warning


def test_broken_document_with_nothing_recovered_names_why() -> None:
    err = parse_error(result(b"<?xml version='1.0'?><notafeed><x>&bogus;</x>"))
    assert "not a readable feed (SAXParseException" in str(err)
    assert "undefined entity" in str(err)


def test_bozo_feed_with_title_but_no_entries_is_an_empty_feed() -> None:
    feed = parse_feed(result(b"<rss version='2.0'><channel><title>Quiet &amp; broken</title>"))
    assert feed.title == "Quiet & broken"
    assert feed.items == ()
    assert feed.warning


def test_valid_feed_with_no_items() -> None:
    feed = parse_feed(result(b'<rss version="2.0"><channel><title>Empty</title></channel></rss>'))
    assert feed.items == () and feed.warning is None and feed.format == "rss20"


def test_survivable_encoding_override_keeps_entries_with_warning() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Declared UTF-8, really Latin-1</title>"
        "<item><guid>1</guid><title>caf\u00e9</title></item></channel></rss>"
    ).encode("latin-1")
    feed = parse_feed(result(body))
    assert [i.title for i in feed.items] == ["café"]
    assert feed.warning and "CharacterEncodingOverride" in feed.warning


def test_non_xml_content_type_keeps_entries_with_warning() -> None:
    body = rss("<item><guid>1</guid></item>")
    feed = parse_feed(result(body, content_type="text/plain"))
    assert len(feed.items) == 1
    assert feed.warning and "NonXMLContentType" in feed.warning


def test_content_location_is_the_base_for_relative_links() -> None:
    body = rss("<item><link>a/b</link></item>")
    feed = parse_feed(result(body, **{"content-location": "/section/index.xml"}))
    assert feed.items[0].url == "http://fetched.example.test/section/a/b"


def test_feed_language_from_content_language_header() -> None:
    body = rss("<item><guid>1</guid></item>")
    feed = parse_feed(result(body, **{"content-language": "kk"}))
    assert feed.items[0].language == "kk"
