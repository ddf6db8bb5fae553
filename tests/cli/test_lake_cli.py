"""`silkwatch lake publish|status|compact` and `silkwatch sql --lake`, as an operator uses them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from silkwatch.cli import cli
from silkwatch.config import load_settings


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _writer(write_config, seed_items, name: str, count: int) -> Path:
    config = write_config(
        f'[storage]\ndatabase = "{name}.duckdb"\n\n'
        '[lake]\ncatalog = "sqlite:lake/catalog.sqlite"\ndata_path = "lake/data"\n'
        f'writer = "{name}"\nbatch_rows = 2\n',
        name=f"{name}.toml",
    )
    items = [
        {
            "id": f"{name}-{i}",
            "title": f"{name} story {i}",
            "feed": f"https://{name}.example/feed.xml",
            "scores": {"sco_ecommerce": 0.95},
        }
        for i in range(count)
    ]
    seed_items(load_settings(config, environ={}), items)
    return config


def test_publish_then_status_then_query_the_lake(write_config, seed_items):
    north = _writer(write_config, seed_items, "north", 5)
    south = _writer(write_config, seed_items, "south", 3)

    result = invoke("lake", "publish", "--config", str(north))
    assert result.exit_code == 0, result.output
    assert "published 5 items, 5 scores, 1 feed rows to sqlite:" in result.output
    assert "as 'north'" in result.output

    status = invoke("lake", "status", "--config", str(south))  # south has not published
    assert status.exit_code == 0, status.output
    assert "items: 5 rows" in status.output
    assert "north" in status.output
    assert "not yet published from" in status.output and "3 items, 3 item_themes" in status.output

    assert invoke("lake", "publish", "--config", str(south)).exit_code == 0
    report = json.loads(invoke("lake", "status", "--config", str(south), "--format", "json").output)
    assert report["rows"] == {"feeds": 2, "items": 8, "item_themes": 8}
    assert {w["writer"] for w in report["writers"]} == {"north", "south"}
    assert report["pending"] == {"items": 0, "item_themes": 0}
    assert report["last_publishes"][0]["status"] == "ok"

    query = invoke(
        "sql", "--lake", "--config", str(north), "--format", "csv",
        "SELECT count(*) AS n FROM matches WHERE theme = 'sco_ecommerce'",
    )  # fmt: skip
    assert query.exit_code == 0, query.output
    assert query.output.splitlines() == ["n", "8"]


def test_the_lake_is_read_only_through_sql(write_config, seed_items):
    config = _writer(write_config, seed_items, "north", 1)
    assert invoke("lake", "publish", "--config", str(config)).exit_code == 0

    result = invoke("sql", "--lake", "--config", str(config), "DELETE FROM items")

    assert result.exit_code == 1
    assert "read-only" in result.output
    assert "catalog.sqlite" in result.output


def test_compact_merges_the_small_files_of_many_publishes(write_config, seed_items):
    config = _writer(write_config, seed_items, "north", 12)  # batches of 2: six files
    assert invoke("lake", "publish", "--config", str(config)).exit_code == 0

    result = invoke("lake", "compact", "--config", str(config), "--keep", "1m")

    assert result.exit_code == 0, result.output
    before, after = (
        int(n) for n in result.output.split("data files: ")[1].split(";")[0].split(" → ")
    )
    assert after < before
    query = invoke("sql", "--lake", "--config", str(config), "--format", "csv",
                   "SELECT count(*) FROM items")  # fmt: skip
    assert query.output.splitlines()[1] == "12"


def test_lake_commands_without_a_catalog_say_which_setting_to_set(write_config):
    config = write_config('[storage]\ndatabase = "sw.duckdb"\n')
    for args in (["lake", "publish"], ["lake", "status"], ["sql", "--lake", "SELECT 1"]):
        result = invoke(*args, "--config", str(config))
        assert result.exit_code == 1
        assert f"{config}: lake.catalog is not set" in result.output


def test_querying_a_lake_nobody_published_to_yet(write_config):
    config = write_config(
        '[lake]\ncatalog = "sqlite:lake/catalog.sqlite"\ndata_path = "lake/data"\n'
    )
    result = invoke("sql", "--lake", "--config", str(config), "SELECT 1")
    assert result.exit_code == 1
    assert "no lake yet: run `silkwatch lake publish` first" in result.output
    assert not (Path(config).parent / "lake").exists()  # reading creates nothing
