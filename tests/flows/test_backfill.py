"""The backfill flow: scoring on a local Dask cluster gives the in-process scores."""

from __future__ import annotations

import duckdb
import pytest
from pytest_httpserver import HTTPServer

from flows.backfill import make_task_runner, run_backfill
from flows.monitor import monitor
from silkwatch.config import load_settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_backend")]

TITLES = [
    "Almaty installs AI traffic lights from a Chinese smart-city vendor",
    "SCO states sign a cross-border e-commerce customs pact",
    "China's market regulator fines a platform under the Anti-Monopoly Law",
    "Local bakery wins a bread competition",
    "Football club signs a new goalkeeper",
    "Beijing adds battery technology to its export control list",
    "Tashkent opens a city operations centre with Chinese cameras",
    "Kazakhstan and China open a bonded e-commerce warehouse at Khorgos",
    "Weather: a sunny weekend ahead",
    "Cyberspace regulator relaxes cross-border data transfer rules",
    "Review: a robot vacuum with a camera",
    "Film festival opens with a comedy",
]


@pytest.fixture
def stored(httpserver: HTTPServer, write_config, make_rss):
    items = [
        {"title": t, "link": f"https://news.example/{i}", "guid": f"g{i}", "description": t}
        for i, t in enumerate(TITLES)
    ]
    httpserver.expect_request("/feed.xml").respond_with_data(
        make_rss("Loopback", items), content_type="application/rss+xml"
    )
    url = httpserver.url_for("/feed.xml")
    config = write_config(f'[storage]\ndatabase = "sw.duckdb"\n\n[[feeds]]\nurl = "{url}"\n')
    settings = load_settings(config, environ={})
    summary = monitor(settings=settings, classify=False, alert=False)
    assert summary.new_items == len(TITLES)
    return settings


def _scores(settings) -> dict[tuple[str, str], tuple[float, bool]]:
    with duckdb.connect(str(settings.storage.database), read_only=True) as db:
        rows = db.execute("SELECT item_id, theme, score, matched FROM item_themes").fetchall()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def test_dask_backfill_scores_every_item_like_the_in_process_path(stored):
    pytest.importorskip("prefect_dask")
    themes = len(stored.themes)

    parallel = run_backfill(stored, workers=2, chunk_size=5)
    assert (parallel.items, parallel.chunks, parallel.runner) == (12, 3, "DaskTaskRunner")
    dask_scores = _scores(stored)
    assert len(dask_scores) == 12 * themes

    serial = run_backfill(stored, workers=1, chunk_size=100)
    assert (serial.items, serial.chunks, serial.runner) == (12, 1, "ThreadPoolTaskRunner")
    local_scores = _scores(stored)
    assert local_scores.keys() == dask_scores.keys()
    for key, (score, matched) in local_scores.items():
        assert dask_scores[key][0] == pytest.approx(score, abs=1e-5)
        assert dask_scores[key][1] == matched

    assert run_backfill(stored, only_pending=True).items == 0  # nothing left unscored


def test_one_worker_needs_no_optional_package():
    assert type(make_task_runner(1)).__name__ == "ThreadPoolTaskRunner"
