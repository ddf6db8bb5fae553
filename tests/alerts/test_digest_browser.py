"""The digest as a reader sees it: the emailed HTML rendered by headless Chromium.

Items whose titles and summaries carry ``<script>``, ``onerror=`` and ``javascript:``
links must show up as plain text, and nothing in them may run. We let the page run for
a moment of virtual time and dump the live DOM: any script that ran would have changed
the title or set a marker attribute.
"""

from __future__ import annotations

import shutil
import subprocess
from email import message_from_bytes, policy
from html.parser import HTMLParser
from pathlib import Path

import pytest

from flows.digest import send_digest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="needs Debian's chromium package (apt-get install chromium; .ci/run installs it)",
)

MARK = "document.documentElement.setAttribute('data-pwned','1')"
HOSTILE = [
    {
        "id": "x1",
        "title": f"<script>{MARK}</script>Safe city tender in Bishkek",
        "url": "javascript:" + MARK,
        "summary": "<b>tender</b>",
        "scores": {"smart_cities": 0.97},
    },
    {
        "id": "x2",
        "title": f'Cameras <img src=x onerror="{MARK}"> across Almaty',
        "url": "https://n.example/x2",
        "scores": {"smart_cities": 0.8},
        "evidence": {"smart_cities": {"sentence": f"<svg onload={MARK}>", "keywords": ["cameras"]}},
    },
    {
        "id": "s1",
        "title": "Ozon opens a hub in Tashkent",
        "url": "https://n.example/s1",
        "feed_name": 'Feed <a href="javascript:alert(1)">B</a>',
        "feed": "https://feeds.example/b.xml",
        "scores": {"sco_ecommerce": 0.9},
    },
]


class Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag in ("head", "title"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("head", "title"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)

    @property
    def visible(self) -> str:
        return " ".join("".join(self.text).split())


def render_in_chromium(html_file: Path, profile: Path) -> str:
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            html_file.as_uri(),
        ],
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return proc.stdout.decode("utf-8")


def test_digest_email_html_reads_as_plain_text_in_a_browser(alert_settings, seed, now, tmp_path):
    settings = alert_settings("[alerts]\nrules = []")
    seed(settings, HOSTILE)
    [eml] = send_digest(settings, now=now).outbox
    msg = message_from_bytes(Path(eml).read_bytes(), policy=policy.default)
    page = tmp_path / "digest.html"
    page.write_text(msg.get_body(("html",)).get_content(), encoding="utf-8")

    dom = Dom()
    dom.feed(render_in_chromium(page, tmp_path / "profile"))

    html_attrs = dict(dom.elements)["html"]
    assert "data-pwned" not in html_attrs  # no script, handler or link ran
    assert [t for t, _ in dom.elements if t in ("script", "img", "svg", "iframe")] == []
    assert not [a for _, attrs in dom.elements for a in attrs if a.startswith("on")]
    hrefs = [attrs["href"] for t, attrs in dom.elements if t == "a"]
    assert hrefs == ["https://n.example/x2", "https://n.example/s1"]

    seen = dom.visible
    assert f"<script>{MARK}</script>Safe city tender in Bishkek" in seen
    assert f'Cameras <img src=x onerror="{MARK}"> across Almaty' in seen
    assert 'Feed <a href="javascript:alert(1)">B</a>' in seen
    # The reader sees the themes with their counts, ranked items and the reason.
    assert "Smart cities (2)" in seen and "SCO e-commerce (1)" in seen
    assert seen.index("Safe city tender") < seen.index("Cameras")
    assert f"Why: “<svg onload={MARK}>”; terms: cameras" in seen
