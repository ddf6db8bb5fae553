"""A loopback HTTP server for the feeds corpus, shared by the ingest benchmarks.

Serves each file's exact bytes with the headers a real server would send (ETag for
conditional GETs, the Content-Type the corpus README asks for, the headers a file's
MANIFEST note says it needs) so the real fetch → parse → store path runs unchanged.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from silkwatch.demo.server import LoopbackHTTPServer

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "feeds-corpus"

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class CorpusFile:
    path: str
    kind: str
    note: str
    headers: dict[str, str] = field(default_factory=dict)


def _note_headers(note: str) -> dict[str, str]:
    match = re.search(r"needs-http-headers: ([^|]*)", note)
    if not match:
        return {}
    headers = {}
    for part in re.split(r";\s*(?=[a-z][a-z-]*:\s)", match.group(1).strip()):
        name, _, value = part.partition(":")
        name = name.strip().lower()
        if name in {"status", "location"}:  # redirects to the original suite's host: skip
            continue
        headers[name] = value.strip()
    return headers


def manifest(corpus: Path = CORPUS) -> list[CorpusFile]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [CorpusFile(r["path"], r["kind"], r["note"], _note_headers(r["note"])) for r in rows]


def response_headers(f: CorpusFile) -> dict[str, str]:
    """Headers for a file: JSON or XML content type, compression, and what its note asks for."""
    headers = {
        "content-type": "application/feed+json" if f.path.endswith(".json") else "application/xml"
    }
    if "/compression/" in f.path:
        if f.path.endswith(".gz"):
            headers["content-encoding"] = "gzip"
        elif f.path.endswith(".z"):
            headers["content-encoding"] = "deflate"
    headers.update(f.headers)
    return headers


class CorpusServer:
    """Serve ``files`` from ``root`` on 127.0.0.1 in a background thread."""

    def __init__(self, files: list[CorpusFile], root: Path = CORPUS):
        self.files = {"/" + quote(f.path): f for f in files}
        self.root = root
        self._bodies: dict[str, bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                f = server.files.get(path)
                if f is None:
                    self.send_error(404)
                    return
                body = server.body(f)
                etag = '"' + hashlib.sha1(body).hexdigest() + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                for k, v in response_headers(f).items():
                    self.send_header(k, v)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def body(self, f: CorpusFile) -> bytes:
        if f.path not in self._bodies:
            self._bodies[f.path] = (self.root / unquote(f.path)).read_bytes()
        return self._bodies[f.path]

    def url(self, f: CorpusFile) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{quote(f.path)}"

    def __enter__(self) -> CorpusServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def write_config(path: Path, urls: list[str], database: Path, **fetch: object) -> Path:
    """A silkwatch TOML config for these feed URLs (flows take large feed lists by path)."""
    lines = ["[storage]", f"database = {json.dumps(str(database))}", "[fetch]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in fetch.items()]
    lines += ["[alerts]", "rules = []"]
    for url in urls:
        lines += ["[[feeds]]", f"url = {json.dumps(url)}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class CorpusServerProcess:
    """The same server in a child process, so timing the client does not count serving.

    In one process the server's threads share the GIL with the pipeline being measured.
    """

    def __init__(self, files: list[CorpusFile], root: Path = CORPUS):
        import multiprocessing

        self.files, self.root = files, root
        self._ctx = multiprocessing.get_context("fork")
        self._parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=self._serve, args=(child,), daemon=True)
        self.port = 0

    def _serve(self, conn: object) -> None:
        server = CorpusServer(self.files, self.root)
        for f in self.files:
            server.body(f)  # read every file before answering
        conn.send(server.httpd.server_address[1])  # type: ignore[attr-defined]
        server.httpd.serve_forever()

    def url(self, f: CorpusFile) -> str:
        return f"http://127.0.0.1:{self.port}/{quote(f.path)}"

    def __enter__(self) -> CorpusServerProcess:
        self._proc.start()
        self.port = self._parent.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.terminate()
        self._proc.join(5)
