"""The commands a user types first: run, sql, feeds status, feeds import-opml."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from silkwatch.cli import cli


@pytest.fixture
def feed_config(httpserver: HTTPServer, write_config, make_rss):
    httpserver.expect_request("/news.xml").respond_with_data(
        make_rss(
            "Loopback News",
            [
                {"title": f"Story {i}", "link": f"https://news.example/{i}", "guid": f"s{i}"}
                for i in range(3)
            ],
        ),
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/gone.xml").respond_with_data("gone", status=404)
    return write_config(
        '[storage]\ndatabase = "cli.duckdb"\n'
        f'[[feeds]]\nurl = "{httpserver.url_for("/news.xml")}"\nname = "Loopback News"\n'
        f'[[feeds]]\nurl = "{httpserver.url_for("/gone.xml")}"\n'
    )


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_lists_the_commands():
    result = invoke("--help")
    for command in ("run", "sql", "feeds"):
        assert command in result.output


@pytest.mark.usefixtures("prefect_backend")
def test_run_then_query_then_feed_status(feed_config):
    result = invoke("run", "--config", str(feed_config), "--no-classify", "--no-alerts")
    assert result.exit_code == 0, result.output
    assert "1 ok" in result.output and "1 failed" in result.output
    assert "3 new" in result.output
    assert "gone.xml" in result.output  # the failing feed is named

    result = invoke(
        "sql",
        "SELECT title FROM items ORDER BY title",
        "--config",
        str(feed_config),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"title": f"Story {i}"} for i in range(3)]

    result = invoke(
        "sql", "SELECT title FROM items", "--config", str(feed_config), "--format", "csv"
    )
    assert result.output.splitlines()[0] == "title"

    result = invoke(
        "feeds", "status", "--config", str(feed_config), "--failing", "--format", "json"
    )
    rows = json.loads(result.output)
    assert [r["url"].rsplit("/", 1)[1] for r in rows] == ["gone.xml"]
    assert "404" in rows[0]["last_error"]

    result = CliRunner().invoke(cli, ["sql", "DELETE FROM items", "--config", str(feed_config)])
    assert result.exit_code == 1
    assert "cli.duckdb" in result.output


def test_sql_before_any_run_says_what_to_do(write_config):
    config = write_config('[storage]\ndatabase = "never.duckdb"\n')
    result = CliRunner().invoke(cli, ["sql", "SELECT 1", "--config", str(config)])
    assert result.exit_code == 1
    assert "never.duckdb" in result.output
    assert "silkwatch run" in result.output


def test_bad_config_stops_before_work_naming_key_and_file(write_config):
    config = write_config("[fetch]\nconcurency = 3\n")
    result = CliRunner().invoke(cli, ["run", "--config", str(config)])
    assert result.exit_code == 1
    assert "fetch.concurency" in result.output
    assert str(config) in result.output


def test_import_opml_adds_new_feeds_once(tmp_path):
    opml = tmp_path / "reader.opml"
    opml.write_text(
        """<?xml version="1.0"?>
<opml version="2.0"><head><title>export</title></head><body>
  <outline text="Asia">
    <outline text="Central Asia Wire" type="rss" xmlUrl="https://wire.example/rss.xml"/>
    <outline text="Tech Desk" type="rss" xmlUrl="https://tech.example/atom.xml"/>
  </outline>
</body></opml>""",
        encoding="utf-8",
    )
    config = tmp_path / "mine.toml"
    config.write_text('[[feeds]]\nurl = "https://tech.example/atom.xml"\n', encoding="utf-8")

    result = invoke("feeds", "import-opml", str(opml), "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "added 1 feed" in result.output
    again = invoke("feeds", "import-opml", str(opml), "--config", str(config))
    assert "added 0 feed" in again.output

    from silkwatch.config import load_settings

    urls = [f.url for f in load_settings(config, environ={}).feeds]
    assert urls == ["https://tech.example/atom.xml", "https://wire.example/rss.xml"]
