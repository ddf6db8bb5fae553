"""`silkwatch digest`: one multipart email per recipient; hostile feed text stays text."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from silkwatch.cli import cli
from silkwatch.cli.common import parse_hours
from silkwatch.config import load_settings

CONFIG = """
[storage]
database = "sw.duckdb"

[classifier]
builtin_themes = false

[[themes]]
name = "smart_cities"
label = "Smart cities"
description = "City-scale AI platforms."
examples = ["The city signed a contract for an AI traffic platform."]

[[themes]]
name = "sco_ecommerce"
label = "SCO e-commerce"
description = "Cross-border e-commerce among SCO members."
examples = ["A marketplace opened a warehouse in Almaty."]
threshold = 0.6

[email]
host = "127.0.0.1"
port = {port}
sender = "digest@alerts.example"
recipients = ["team@example.org"]

[alerts]
rules = []
"""

ITEMS = [
    {
        "id": "x1",
        "title": "<script>alert('title')</script>Safe city tender in Bishkek",
        "url": "javascript:alert(document.cookie)",
        "summary": "<b>tender</b> text",
        "scores": {"smart_cities": 0.97},
    },
    {
        "id": "x2",
        "title": 'Cameras <img src=x onerror="alert(1)"> across Almaty',
        "url": "https://n.example/x2",
        "scores": {"smart_cities": 0.8},
    },
    {
        "id": "s1",
        "title": "Ozon opens a hub in Tashkent",
        "url": "https://n.example/s1",
        "scores": {"sco_ecommerce": 0.9},
    },
    {"id": "old", "title": "Three days old", "age_hours": 72, "scores": {"smart_cities": 0.9}},
]


@pytest.mark.usefixtures("prefect_backend")
def test_digest_command_sends_one_multipart_email_with_every_theme(
    write_config, smtp_server, seed_items, tmp_path
):
    path = write_config(CONFIG.format(port=smtp_server.port))
    seed_items(load_settings(path, environ={}), ITEMS)
    runner = CliRunner()

    result = runner.invoke(
        cli, ["digest", "--config", str(path), "--since", "24h", "--to", "analyst@example.org"]
    )

    assert result.exit_code == 0, result.output
    assert "digest: 3 matches" in result.output and "sent to analyst@example.org" in result.output
    [msg] = smtp_server.messages
    assert msg["To"] == "analyst@example.org"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    html = msg.get_body(("html",)).get_content()
    assert re.search(r"Smart cities <span[^>]*>\(2\)</span>", html)
    assert re.search(r"SCO e-commerce <span[^>]*>\(1\)</span>", html)
    assert "Ozon opens a hub in Tashkent" in html and "Three days old" not in html
    # Hostile text is shown, escaped, never as markup or a javascript: link.
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;Safe city tender" in html
    assert "Cameras &lt;img src=x onerror=&#34;alert(1)&#34;&gt; across Almaty" in html
    assert "<script" not in html and "<img" not in html and "javascript:" not in html

    again = runner.invoke(cli, ["digest", "--config", str(path), "--to", "analyst@example.org"])
    assert again.exit_code == 0 and "already sent to analyst@example.org" in again.output
    assert len(smtp_server.messages) == 1

    forced = runner.invoke(
        cli, ["digest", "--config", str(path), "--to", "analyst@example.org", "--force"]
    )
    assert forced.exit_code == 0 and len(smtp_server.messages) == 2

    out = tmp_path / "digest.html"
    preview = runner.invoke(cli, ["digest", "--config", str(path), "--output", str(out)])
    assert preview.exit_code == 0 and f"written to {out}" in preview.output
    assert "Safe city tender in Bishkek" in out.read_text("utf-8")
    assert len(smtp_server.messages) == 2


@pytest.mark.usefixtures("prefect_backend")
def test_digest_command_exits_1_when_the_server_is_down(write_config, unused_port, seed_items):
    path = write_config(CONFIG.format(port=unused_port))
    seed_items(load_settings(path, environ={}), ITEMS[:1])
    result = CliRunner().invoke(cli, ["digest", "--config", str(path)])
    assert result.exit_code == 1
    assert f"FAILED for team@example.org: email (127.0.0.1:{unused_port})" in result.output


def test_since_accepts_durations():
    assert [parse_hours(v) for v in ("24h", "90m", "2d", "1w", "6")] == [24, 1.5, 48, 168, 6]
    result = CliRunner().invoke(cli, ["digest", "--since", "soon"])
    assert result.exit_code == 2 and "expected a duration like 24h" in result.output
