from __future__ import annotations

from pathlib import Path

import pytest

from feeds.opml import read_opml
from silkwatch.errors import ConfigError

SUBSCRIPTIONS = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Analyst subscriptions</title></head>
  <body>
    <outline text="Asia">
      <outline text="Central Asia">
        <outline type="rss" text="Steppe Wire" title="Steppe Wire"
                 xmlUrl="https://steppe.example.test/feed.xml" htmlUrl="https://steppe.example.test/"/>
      </outline>
      <outline type="rss" text="Harbour News" xmlUrl="http://harbour.example.test/rss"
               category="ports,/logistics"/>
    </outline>
    <outline type="rss" text="Top level" xmlUrl="feed://top.example.test/atom"/>
    <outline type="rss" text="Duplicate" xmlUrl="https://steppe.example.test/feed.xml"/>
    <outline text="Empty folder"/>
  </body>
</opml>
"""


def write(tmp_path: Path, text: str, name: str = "subs.opml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_nested_outlines_become_feeds_with_folder_tags(tmp_path: Path) -> None:
    feeds = read_opml(write(tmp_path, SUBSCRIPTIONS))
    assert [(f.url, f.name, f.tags) for f in feeds] == [
        ("https://steppe.example.test/feed.xml", "Steppe Wire", ("Asia", "Central Asia")),
        ("http://harbour.example.test/rss", "Harbour News", ("Asia", "ports", "logistics")),
        ("http://top.example.test/atom", "Top level", ()),
    ]


def test_opml_without_feeds_gives_empty_list(tmp_path: Path) -> None:
    path = write(tmp_path, '<opml version="1.0"><head/><body><outline text="x"/></body></opml>')
    assert read_opml(path) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<opml><body><outline ", "not readable as OPML"),
        ('<rss version="2.0"><channel/></rss>', "not an OPML file"),
        (
            '<opml><body><outline text="Bad" xmlUrl="ftp://x.example.test/f"/></body></opml>',
            "http(s)",
        ),
    ],
)
def test_bad_files_raise_config_error_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        read_opml(path)
    assert message in str(info.value)
    assert info.value.source == str(path)


def test_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.opml"
    with pytest.raises(ConfigError, match="not found") as info:
        read_opml(path)
    assert info.value.source == str(path)
