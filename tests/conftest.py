"""Shared fixtures: real servers and files, never mocks of our own code.

Prefect's test harness costs ~10 s, so it is a session fixture that only flow tests ask for.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports prefect: keep its state out of ~/.prefect and quiet.
_PREFECT_HOME = tempfile.mkdtemp(prefix="silkwatch-test-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("SILKWATCH_CONFIG", None)


@pytest.fixture(scope="session")
def prefect_backend() -> Iterator[None]:
    """One temporary Prefect API for the whole session (flow tests only)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=60),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a TOML config in tmp_path and return its path; the database lands beside it."""

    def write(text: str, name: str = "silkwatch.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def _rss(title: str, items: list[dict[str, str]], link: str = "https://news.example/") -> bytes:
    from xml.sax.saxutils import escape

    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link>",
        "<description>test feed</description>",
    ]
    for it in items:
        parts.append("<item>")
        for key in ("title", "link", "guid", "description", "pubDate", "author"):
            if key in it:
                parts.append(f"<{key}>{escape(it[key])}</{key}>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


@pytest.fixture
def make_rss():
    """Build an RSS 2.0 document: ``make_rss("Title", [{"title": ..., "link": ...}, ...])``."""
    return _rss


# --- a real SMTP server on 127.0.0.1 (aiosmtpd) --------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now (for servers, or for 'server is down')."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """Keeps every message an aiosmtpd server accepts: ``.messages`` (parsed) and ``.raw``.

    ``before_reply(data)`` runs in a worker thread after a message is captured and before
    the server answers 250, so a test can hold a client mid-delivery (e.g. to kill it).
    """

    def __init__(self, port: int | None = None, before_reply=None, **server_kwargs):
        from aiosmtpd.controller import Controller

        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._before_reply = before_reply
        self._controller = Controller(self, hostname=self.host, port=self.port, **server_kwargs)

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        data = envelope.original_content or envelope.content
        self.raw.append(bytes(data))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self._before_reply is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._before_reply, data)
        return "250 Message accepted for delivery"

    @property
    def messages(self):
        from email import message_from_bytes, policy

        return [message_from_bytes(b, policy=policy.default) for b in self.raw]

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """A plain SMTP server on 127.0.0.1 (random free port) that captures messages."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def make_smtp_server() -> Iterator:
    """Start more SMTP servers: ``make_smtp_server(port=…, before_reply=…, **aiosmtpd_kwargs)``."""
    started: list[SmtpSink] = []

    def make(**kwargs) -> SmtpSink:
        sink = SmtpSink(**kwargs).start()
        started.append(sink)
        return sink

    yield make
    for sink in started:
        sink.stop()


@pytest.fixture
def unused_port() -> int:
    """A free TCP port on 127.0.0.1 (e.g. where an SMTP server is 'down')."""
    return free_port()


# --- stored items with theme scores, written by SQL (no model needed) -----------------------


def _seed_items(settings, items: list[dict], *, now=None) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    from warehouse.db import open_db

    now = now or datetime.now(UTC)
    version = settings.themes_version()
    thresholds = {t.name: t.threshold for t in settings.themes}
    with open_db(settings.storage.database) as db:
        for it in items:
            feed = it.get("feed", "https://feeds.example/a.xml")
            db.execute(
                "INSERT INTO feeds (url, name, tags) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [feed, it.get("feed_name", "Feed A"), it.get("tags", [])],
            )
            fetched = now - timedelta(hours=it.get("age_hours", 1))
            db.execute(
                "INSERT INTO items (item_id, feed_url, guid, url, title, summary, published_at,"
                " fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    it["id"],
                    feed,
                    it["id"],
                    it.get("url"),
                    it["title"],
                    it.get("summary", ""),
                    fetched - timedelta(minutes=30),
                    fetched,
                ],
            )
            for theme, score in it.get("scores", {}).items():
                evidence = it.get("evidence", {}).get(theme, {"sentence": it["title"]})
                db.execute(
                    "INSERT INTO item_themes (item_id, theme, score, matched, model,"
                    " themes_version, evidence, scored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        it["id"],
                        theme,
                        score,
                        score >= thresholds[theme],
                        "test-model",
                        version,
                        json.dumps(evidence),
                        fetched,
                    ],
                )


@pytest.fixture
def seed_items():
    """``seed_items(settings, items, now=None)``: store items and current theme scores by SQL.

    Each item dict: ``id``, ``title``, optional ``url``, ``summary``, ``feed`` (URL),
    ``feed_name``, ``tags``, ``age_hours`` (since fetched; default 1), ``scores``
    {theme: score}, ``evidence`` {theme: dict}. Scores carry the current themes_version,
    as the classifier stores them, so alert and digest tests need no model.
    """
    return _seed_items


# --- a real PostgreSQL server on 127.0.0.1 (Debian's binaries), for DuckLake catalogs -------


def _postgres_bin(name: str) -> str | None:
    import glob
    import shutil

    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL server (trust auth, loopback only) for the whole session.

    PostgreSQL refuses to run as root, so under root it runs as the ``postgres`` user in a
    folder that user owns. Skipped where the server binaries are not installed (.ci/run
    installs them).
    """
    import shutil
    import subprocess

    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    folder = Path(tempfile.mkdtemp(prefix="silkwatch-test-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = folder / "data"
    subprocess.run(
        [*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "silkwatch"],
        check=True,
        capture_output=True,
    )
    options = f"-k {folder} -h 127.0.0.1 -p {port} -c fsync=off"
    log = str(folder / "log")
    subprocess.run(
        [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", log, "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield {"host": "127.0.0.1", "port": str(port), "user": "silkwatch"}
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "stop"], check=False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres_server, request) -> str:
    """A new, empty database on the session's PostgreSQL server; returns its libpq conninfo."""
    import re
    import subprocess

    name = "t_" + re.sub(r"\W", "_", request.node.name)[:50].lower()
    server = postgres_server
    subprocess.run(
        [_postgres_bin("createdb") or "createdb", "-h", server["host"], "-p", server["port"],
         "-U", server["user"], name],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return f"dbname={name} host={server['host']} port={server['port']} user={server['user']}"
