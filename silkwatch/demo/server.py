"""Serve the bundled sample feeds from 127.0.0.1 so the demo runs the real fetch path offline.

The feed files carry ``{{now-2h}}`` style placeholders instead of fixed dates, so whenever the
demo runs its items are recent enough for the digest window (the last 24 hours) and a couple
fall outside it. Times are fixed when the server starts, so repeated requests get identical
bytes and the server can answer ``If-None-Match`` with 304 like a polite real server.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import TracebackType

__all__ = ["DEMO_FEEDS", "DemoFeed", "DemoFeedServer", "LoopbackHTTPServer", "render_feed"]


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that accepts a burst of connections at once.

    The standard library listens with a backlog of 5: when the fetcher opens its 16
    concurrent connections, the kernel drops the extra SYNs and the client retries them a
    second later, so a local run would measure the backlog rather than silkwatch.
    """

    request_queue_size = 128
    daemon_threads = True


@dataclass(frozen=True)
class DemoFeed:
    """One bundled outlet: the file under ``silkwatch/demo/feeds/`` and how to describe it."""

    file: str
    name: str
    content_type: str
    tags: tuple[str, ...]


DEMO_FEEDS: tuple[DemoFeed, ...] = (
    DemoFeed("silkroad-wire.xml", "Silk Road Tech Wire", "application/rss+xml", ("china-tech",)),
    DemoFeed(
        "steppe-digital.xml", "Steppe Digital Review", "application/atom+xml", ("central-asia",)
    ),
    DemoFeed(
        "harbour-tech.json", "Harbour City Tech Notes", "application/feed+json", ("china-tech",)
    ),
    DemoFeed("mekong-post.xml", "Mekong Morning Post", "application/rss+xml", ("southeast-asia",)),
)

_PLACEHOLDER = re.compile(r"\{\{now(?:-(\d+)([mhd]))?(?:\|(rfc822|iso))?\}\}")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def render_feed(template: str, now: datetime) -> str:
    """Replace ``{{now}}``, ``{{now-2h}}``, ``{{now-30m|rfc822}}`` with times before ``now``.

    ``iso`` (the default) gives RFC 3339 for Atom and JSON Feed; ``rfc822`` is RSS's format.
    """

    def one(match: re.Match[str]) -> str:
        amount, unit, fmt = match.groups()
        when = now.astimezone(UTC)
        if amount:
            when -= timedelta(**{_UNITS[unit]: int(amount)})
        when = when.replace(microsecond=0)
        if fmt == "rfc822":
            return format_datetime(when, usegmt=True)
        return when.isoformat().replace("+00:00", "Z")

    return _PLACEHOLDER.sub(one, template)


def _load(now: datetime) -> dict[str, tuple[bytes, str, str]]:
    """Path -> (body, content type, ETag) for every bundled feed, rendered once."""
    folder = resources.files("silkwatch.demo").joinpath("feeds")
    pages = {}
    for feed in DEMO_FEEDS:
        body = render_feed(folder.joinpath(feed.file).read_text("utf-8"), now).encode("utf-8")
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        pages["/" + feed.file] = (body, feed.content_type, etag)
    return pages


class DemoFeedServer:
    """A threaded HTTP server on 127.0.0.1 and a free port, alive inside a ``with`` block.

    >>> with DemoFeedServer() as server:
    ...     url = server.url_for("silkroad-wire.xml")
    """

    def __init__(self, now: datetime | None = None, host: str = "127.0.0.1", port: int = 0):
        self._pages = _load(now or datetime.now(UTC))
        self._host, self._port = host, port
        self._httpd: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[tuple[str, int]] = []  # (path, status), for the demo's summary

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the demo feed server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url_for(self, file: str) -> str:
        return f"{self.base_url}/{file}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        pages, log = self._pages, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = pages.get(self.path.split("?", 1)[0])
                if page is None:
                    self._answer(404, b"not found\n", "text/plain", None)
                    return
                body, ctype, etag = page
                if self.headers.get("If-None-Match") == etag:
                    self._answer(304, b"", ctype, etag)
                else:
                    self._answer(200, body, ctype, etag)

            def _answer(self, status: int, body: bytes, ctype: str, etag: str | None) -> None:
                log.append((self.path, status))
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                if status != 304:
                    self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the demo prints its own progress."""

        return Handler

    def __enter__(self) -> DemoFeedServer:
        self._httpd = LoopbackHTTPServer((self._host, self._port), self._handler())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="demo-feed-server", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None
