"""`kill -9` at any point of a cycle, then another cycle: exactly the clean cycle's items, once."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import duckdb
import pytest

from flows.ingest import ingest_feeds
from silkwatch.config import load_settings
from silkwatch.demo.server import LoopbackHTTPServer

FEEDS, ITEMS = 30, 20


def feed_body(n: int) -> bytes:
    items = "".join(
        f"<item><title>Feed {n} story {i}</title><guid>f{n}-{i}</guid>"
        f"<link>https://news.example/{n}/{i}</link><description>Text {i}</description></item>"
        for i in range(ITEMS)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>'
        f"{items}</channel></rss>"
    ).encode()


class SlowFeeds(BaseHTTPRequestHandler):
    """Each response takes a moment, so the cycle is long enough to be killed inside."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = feed_body(int(self.path.strip("/").removesuffix(".xml")))
        etag = '"' + hashlib.sha1(body).hexdigest()[:12] + '"'
        time.sleep(0.15)
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def slow_server() -> Iterator[str]:
    httpd = LoopbackHTTPServer(("127.0.0.1", 0), SlowFeeds)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def make_config(folder: Path, base_url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    feeds = "".join(f'\n[[feeds]]\nurl = "{base_url}/{n}.xml"\n' for n in range(FEEDS))
    path = folder / "silkwatch.toml"
    path.write_text(
        '[storage]\ndatabase = "sw.duckdb"\n[fetch]\nconcurrency = 4\nper_host_concurrency = 4\n'
        + feeds
    )
    return path


def cycle(config: Path) -> None:
    settings = load_settings(config, environ={})
    asyncio.run(ingest_feeds(settings, run_id=f"run-{time.monotonic_ns()}"))


def stored(config: Path) -> list[tuple[str, str]]:
    db = config.parent / "sw.duckdb"
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute("SELECT feed_url, guid FROM items ORDER BY ALL").fetchall()


CHILD = """
import asyncio, sys
from flows.ingest import ingest_feeds
from silkwatch.config import load_settings
def saved(outcome):
    print(outcome.url, flush=True)
asyncio.run(ingest_feeds(load_settings(sys.argv[1], environ={}), run_id="doomed", progress=saved))
"""


@pytest.mark.parametrize("kill_after_feeds", [1, 6, 12, 20])
def test_kill_9_mid_cycle_then_rerun_matches_a_clean_cycle(tmp_path, slow_server, kill_after_feeds):
    clean = make_config(tmp_path / "clean", slow_server)
    cycle(clean)
    expected = stored(clean)
    assert len(expected) == FEEDS * ITEMS

    crashed = make_config(tmp_path / "crashed", slow_server)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(crashed)],
        start_new_session=True,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    for _ in range(kill_after_feeds):  # the child reports each feed it has saved
        assert child.stdout.readline()
    os.killpg(child.pid, signal.SIGKILL)  # lands wherever the writer is by now
    child.wait()
    partial = len(stored(crashed))
    assert 0 < partial < FEEDS * ITEMS, "the kill should land mid-cycle"

    cycle(crashed)  # the next cycle after the crash

    assert stored(crashed) == expected
    with duckdb.connect(str(crashed.parent / "sw.duckdb"), read_only=True) as conn:
        dupes = conn.execute(
            "SELECT count(*) FROM "
            "(SELECT feed_url, guid FROM items GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()
        assert dupes == (0,)
        # no feed has validators saved without its items
        orphans = conn.execute(
            "SELECT count(*) FROM feeds f WHERE etag IS NOT NULL AND "
            "(SELECT count(*) FROM items i WHERE i.feed_url = f.url) <> ?",
            parameters=[ITEMS],
        ).fetchone()
        assert orphans == (0,)
