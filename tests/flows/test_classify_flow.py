"""A cycle scores each new item once; a theme change makes reclassify rescore by version."""

from __future__ import annotations

import duckdb
import pytest
from pytest_httpserver import HTTPServer

from flows.classify import reclassify
from flows.monitor import monitor
from silkwatch.config import load_settings

pytestmark = [pytest.mark.usefixtures("prefect_backend"), pytest.mark.slow]

ITEMS = [
    {
        "title": "Kuala Lumpur signs a smart city traffic deal with a Chinese cloud firm",
        "link": "https://news.example/safe-city",
        "guid": "n1",
        "description": "Cameras at junctions will feed an AI platform that retimes signals.",
    },
    {
        "title": "Local team wins the regional chess championship",
        "link": "https://news.example/chess",
        "guid": "n2",
        "description": "The final went to a tie-break.",
    },
]
EXTRA_THEME = """
[[themes]]
name = "smart_cities"
label = "Smart cities"
description = "City-scale smart and safe city projects."
examples = ["A city installs an AI platform that runs its traffic lights and cameras."]
"""


def counts(db_path) -> list[tuple[str, int]]:
    with duckdb.connect(str(db_path), read_only=True) as db:
        return db.execute(
            "SELECT themes_version, count(*) FROM item_themes GROUP BY ALL ORDER BY ALL"
        ).fetchall()


def test_scores_once_rerun_scores_nothing_and_theme_change_rescoring_keeps_history(
    httpserver: HTTPServer, write_config, make_rss
):
    httpserver.expect_request("/feed.xml").respond_with_data(
        make_rss("Desk", ITEMS), content_type="application/rss+xml"
    )
    base = (
        f'[storage]\ndatabase = "c.duckdb"\n[[feeds]]\nurl = "{httpserver.url_for("/feed.xml")}"\n'
    )
    settings = load_settings(write_config(base), environ={})

    first = monitor(settings=settings, alert=False)
    assert (first.new_items, first.items_scored) == (2, 2)
    v1 = settings.themes_version()
    assert counts(settings.storage.database) == [(v1, 2 * len(settings.themes))]
    with duckdb.connect(str(settings.storage.database), read_only=True) as db:
        matched = db.execute(
            "SELECT i.guid, t.theme, t.evidence->>'example' FROM item_themes t "
            "JOIN items i USING (item_id) WHERE t.matched"
        ).fetchall()
    assert [(g, t) for g, t, _ in matched] == [("n1", "smart_cities")]
    assert matched[0][2]  # the closest example is kept as evidence

    second = monitor(settings=settings, alert=False)
    assert second.items_scored == 0

    changed = load_settings(write_config(base + EXTRA_THEME), environ={})
    v2 = changed.themes_version()
    assert v2 != v1
    result = reclassify(changed)
    assert result.scored == 2
    assert counts(settings.storage.database) == sorted(
        [(v1, 2 * len(settings.themes)), (v2, 2 * len(changed.themes))]
    )
