"""Sharded monitor runs, each with its own DuckDB file, publishing to one DuckLake.

This is the many-writers setup of docs/scaling.md: shards (or machines) never share a
DuckDB file; the lake is where their rows meet. Real loopback feeds, real DuckLake.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flows.ingest import shard_feeds
from flows.monitor import monitor
from silkwatch.cli import cli
from silkwatch.config import load_settings
from warehouse.db import open_db
from warehouse.lake_admin import query_lake

pytestmark = pytest.mark.usefixtures("prefect_backend")


class GrowingFeed:
    """A feed whose story count the test raises between cycles."""

    def __init__(self, make_rss, name: str, count: int):
        self.make_rss, self.name, self.count = make_rss, name, count

    def __call__(self, request: Request) -> Response:
        entries = [
            {
                "title": f"{self.name} story {i}",
                "link": f"https://news.example/{self.name}/{i}",
                "guid": f"{self.name}-{i}",
            }
            for i in range(self.count)
        ]
        return Response(self.make_rss(self.name, entries), content_type="application/rss+xml")


def _shard_config(write_config, shard: int, urls: list[str]) -> Path:
    feeds = "".join(f'\n[[feeds]]\nurl = "{u}"\n' for u in urls)
    return write_config(
        f'[storage]\ndatabase = "shard-{shard}.duckdb"\n\n'
        f'[lake]\ncatalog = "sqlite:lake/catalog.sqlite"\ndata_path = "lake/data"\n'
        f'writer = "shard-{shard}"\n{feeds}',
        name=f"shard-{shard}.toml",
    )


def test_shards_with_their_own_files_meet_in_the_lake_and_survive_a_lake_outage(
    httpserver: HTTPServer, write_config, make_rss, tmp_path: Path
):
    feeds = {name: GrowingFeed(make_rss, name, 3) for name in ("a", "b", "c", "d")}
    for name, handler in feeds.items():
        httpserver.expect_request(f"/{name}.xml").respond_with_handler(handler)
    urls = [httpserver.url_for(f"/{name}.xml") for name in feeds]
    shards = [load_settings(_shard_config(write_config, s, urls), environ={}) for s in (0, 1)]
    assert all(shard_feeds(shards[0].feeds, s, 2) for s in (0, 1))  # both shards have work

    cycle = [monitor(settings=shards[s], shard=s, shards=2, classify=False) for s in (0, 1)]

    assert [c.lake_error for c in cycle] == [None, None]
    assert sum(c.lake_items for c in cycle) == 12
    assert [c.lake_items for c in cycle] == [c.new_items for c in cycle]
    lake = shards[0].lake
    assert query_lake(lake, "SELECT count(*), count(DISTINCT item_id) FROM items").rows == [
        (12, 12)
    ]
    # every feed once, each row from the shard that fetched it
    assert query_lake(lake, "SELECT count(*), count(last_fetched_at) FROM feeds").rows == [(4, 4)]

    # the lake goes away: cycles still complete, new items stay local, and the next
    # cycle after it is back publishes them
    catalog = tmp_path / "lake" / "catalog.sqlite"
    catalog.rename(tmp_path / "catalog.moved")
    catalog.mkdir()  # a folder where the SQLite file should be: cannot be opened
    for handler in feeds.values():
        handler.count = 5

    down = [monitor(settings=shards[s], shard=s, shards=2, classify=False) for s in (0, 1)]

    assert sum(c.new_items for c in down) == 8
    assert all(c.lake_error and "catalog.sqlite" in c.lake_error for c in down)
    for s in (0, 1):
        with open_db(shards[s].storage.database, read_only=True) as conn:
            status = conn.execute(
                "SELECT status FROM lake_publishes ORDER BY started_at DESC LIMIT 1"
            ).fetchone()
        assert status == ("failed",)

    catalog.rmdir()
    (tmp_path / "catalog.moved").rename(catalog)
    back = [monitor(settings=shards[s], shard=s, shards=2, classify=False) for s in (0, 1)]

    assert [c.new_items for c in back] == [0, 0]
    assert sum(c.lake_items for c in back) == 8
    assert query_lake(lake, "SELECT count(*), count(DISTINCT item_id) FROM items").rows == [
        (20, 20)
    ]


def test_run_prints_what_it_published(httpserver: HTTPServer, write_config, make_rss):
    httpserver.expect_request("/a.xml").respond_with_handler(GrowingFeed(make_rss, "a", 2))
    config = _shard_config(write_config, 0, [httpserver.url_for("/a.xml")])

    result = CliRunner().invoke(
        cli, ["run", "--config", str(config), "--no-classify", "--no-alerts"]
    )

    assert result.exit_code == 0, result.output
    assert "lake: 2 items, 0 scores published to sqlite:" in result.output


@pytest.mark.parametrize("every_shard", [False, True])
def test_with_own_databases_every_shard_delivers_its_own_alerts(
    httpserver: HTTPServer, write_config, make_rss, seed_items, every_shard: bool
):
    httpserver.expect_request("/a.xml").respond_with_handler(GrowingFeed(make_rss, "a", 1))
    config = _shard_config(write_config, 1, [httpserver.url_for("/a.xml")])
    if every_shard:
        config.write_text(config.read_text() + "\n[alerts]\nevery_shard = true\n")
    settings = load_settings(config, environ={})
    seed_items(settings, [{"id": "kl", "title": "Kuala Lumpur City Brain", "scores": {
        "smart_cities": 0.93}}])  # fmt: skip

    summary = monitor(settings=settings, shard=1, shards=2, classify=False)

    assert summary.alerts_sent == (1 if every_shard else 0)
    outbox = settings.storage.outbox
    assert len(list(outbox.glob("*.eml")) if outbox.exists() else []) == summary.alerts_sent
