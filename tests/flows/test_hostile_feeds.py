"""Hostile servers cost one recorded error each; the cycle completes with bounded memory."""

from __future__ import annotations

import gzip
import resource
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import duckdb
import pytest

from flows.monitor import monitor
from silkwatch.config import load_settings
from silkwatch.demo.server import LoopbackHTTPServer

pytestmark = pytest.mark.usefixtures("prefect_backend")

GOOD = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Good</title>'
    b"<item><title>Fine story</title><link>https://news.example/fine</link></item>"
    b"</channel></rss>"
)
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title></item></channel></rss>"""


class Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _body(self, status: int, body: bytes, **headers: str) -> None:
        self._head(status, {"Content-Length": str(len(body)), **headers})
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        try:
            if path == "/good":
                self._body(200, GOOD, **{"Content-Type": "application/rss+xml"})
            elif path == "/error500":
                self._body(500, b"oops")
            elif path == "/ratelimited":
                self._body(429, b"slow down", **{"Retry-After": "7200"})
            elif path.startswith("/loop"):
                n = int(path.removeprefix("/loop") or 0)
                self._body(302, b"", Location=f"/loop{n + 1}")
            elif path == "/to-file":
                self._body(302, b"", Location="file:///etc/passwd")
            elif path == "/endless":
                self._head(200, {"Content-Type": "application/rss+xml"})
                self.wfile.write(b'<?xml version="1.0"?><rss><channel>')
                while True:  # a body that never ends, slowly
                    self.wfile.write(b"<item><title>x</title></item>" * 10)
                    time.sleep(0.05)
            elif path == "/huge":
                chunk = b"<!-- padding -->" * 4096
                size = 60 * 1024 * 1024
                self._head(200, {"Content-Length": str(size), "Content-Type": "application/xml"})
                for _ in range(size // len(chunk)):
                    self.wfile.write(chunk)
            elif path == "/gzip-bomb":
                bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
                self._body(
                    200, bomb, **{"Content-Encoding": "gzip", "Content-Type": "application/xml"}
                )
            elif path == "/laughs":
                self._body(200, BILLION_LAUGHS, **{"Content-Type": "application/xml"})
            else:
                self._body(404, b"no")
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def hostile_server() -> Iterator[str]:
    httpd = LoopbackHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def raw_servers() -> Iterator[dict[str, str]]:
    """One server that resets every connection, one that accepts and never answers."""
    stop = threading.Event()
    socks = []

    def serve(sock: socket.socket, reset: bool) -> None:
        held = []
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            if reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.recv(1024)
                conn.close()
            else:
                held.append(conn)  # never answer
        for c in held:
            c.close()

    urls, threads = {}, []
    for name, reset in (("reset", True), ("silent", False)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        socks.append(s)
        threads.append(threading.Thread(target=serve, args=(s, reset), daemon=True))
        threads[-1].start()
        urls[name] = f"http://127.0.0.1:{s.getsockname()[1]}/feed.xml"
    yield urls
    stop.set()
    for t in threads:
        t.join(timeout=5)
    for s in socks:
        s.close()


def test_every_hostile_feed_costs_one_recorded_error(hostile_server, raw_servers, write_config):
    hostile = {
        name: f"{hostile_server}/{name}"
        for name in (
            "error500",
            "ratelimited",
            "loop",
            "to-file",
            "endless",
            "huge",
            "gzip-bomb",
            "laughs",
        )
    }
    hostile.update(raw_servers)
    good = f"{hostile_server}/good"
    feeds = "".join(f'\n[[feeds]]\nurl = "{u}"\n' for u in [good, *hostile.values()])
    config = write_config(
        '[storage]\ndatabase = "hostile.duckdb"\n'
        "[fetch]\ntimeout_seconds = 3.0\nconnect_timeout_seconds = 2.0\n"
        "max_body_bytes = 5000000\nmax_redirects = 5\n" + feeds
    )
    settings = load_settings(config, environ={})
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    summary = monitor(settings=settings, classify=False, alert=False)

    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mb < 300, f"memory grew by {grown_mb:.0f} MB"
    assert summary.feeds_ok == 1
    assert summary.new_items == 1
    with duckdb.connect(str(settings.storage.database), read_only=True) as db:
        rows = db.execute(
            "SELECT feed_url, count(*), any_value(status), any_value(error) "
            "FROM fetch_log GROUP BY feed_url"
        ).fetchall()
        errors = {r[0]: (r[1], r[2], r[3]) for r in rows if r[0] != good}
        assert db.execute("SELECT count(*) FROM items").fetchone() == (1,)
    assert set(errors) == set(hostile.values())
    for name, url in hostile.items():
        count, status, error = errors[url]
        assert count == 1, name
        assert status != "ok", name
        assert error, f"{name} has no recorded error"
    assert errors[hostile["ratelimited"]][1] == "rate_limited"

    again = monitor(settings=settings, classify=False, alert=False)
    assert again.feeds_ok == 1  # good feed fetched again; failing ones are backing off
    assert again.feeds_skipped >= 1  # at least the 429 feed waits for its Retry-After
