"""Done-when 1: monitoring cycles with the real model alert exactly the on-theme items, once.

A loopback feed carries on-theme and off-theme items; the monitor flow fetches, classifies
with the bundled MiniLM and emails a real SMTP server on 127.0.0.1. A second cycle sends
nothing; a new on-theme item then brings exactly one new alert, naming only it.
"""

from __future__ import annotations

import re

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flows.monitor import monitor
from silkwatch.config import load_settings

pytestmark = [pytest.mark.usefixtures("prefect_backend"), pytest.mark.slow]

ON_THEME = [
    (
        "Hangzhou expands City Brain AI traffic platform across the city",
        "The smart city platform links thousands of traffic cameras and sensors to a central "
        "command centre run with Alibaba Cloud.",
    ),
    (
        "Xiong'an new area opens smart city data centre",
        "China's planned smart city south of Beijing switched on its city brain, managing traffic "
        "lights and IoT sensors.",
    ),
]
OFF_THEME = [
    (
        "Local football club wins the league title",
        "Fans celebrated in the streets after the final match of the season.",
    ),
    (
        "How to bake sourdough bread at home",
        "A simple recipe with flour, water, salt and patience.",
    ),
    (
        "Heavy rain expected across the north this weekend",
        "Forecasters warn of flooding in low-lying areas.",
    ),
]
LATER = (
    "Uzbekistan signs safe city contract for Tashkent",
    "The deal covers surveillance cameras, facial recognition and an urban command center.",
)


def entries(pairs):
    return [
        {
            "title": title,
            "description": summary,
            "guid": f"g-{i}-{title[:12]}",
            "link": f"https://news.example/{i}-{re.sub(r'[^a-z]+', '-', title.lower())}",
            "pubDate": "Mon, 23 Nov 2026 08:00:00 GMT",
        }
        for i, (title, summary) in enumerate(pairs)
    ]


def alerted_titles(message) -> set[str]:
    text = message.get_body(("plain",)).get_content()
    return set(re.findall(r"^\d+\. (.+?)\r?$", text, flags=re.M))


def test_cycles_alert_on_theme_items_once_and_then_only_new_ones(
    httpserver: HTTPServer, write_config, make_rss, smtp_server
):
    feed = {"items": entries(ON_THEME + OFF_THEME)}

    def serve(request: Request) -> Response:
        return Response(
            make_rss("Loopback news", feed["items"]), content_type="application/rss+xml"
        )

    httpserver.expect_request("/feed.xml").respond_with_handler(serve)
    path = write_config(f"""
[storage]
database = "sw.duckdb"

[[feeds]]
url = "{httpserver.url_for("/feed.xml")}"
name = "Loopback news"

[email]
host = "127.0.0.1"
port = {smtp_server.port}
sender = "silkwatch@alerts.example"
recipients = ["analyst@example.org"]

[[alerts.rules]]
name = "smart-cities"
themes = ["smart_cities"]
channels = ["email"]
""")
    settings = load_settings(path, environ={})

    first = monitor(settings=settings)

    assert (first.new_items, first.alerts_sent, first.alerts_failed) == (5, 1, 0)
    [alert] = smtp_server.messages
    assert alerted_titles(alert) == {title for title, _ in ON_THEME}

    second = monitor(settings=settings)

    assert (second.new_items, second.alerts_sent) == (0, 0)
    assert len(smtp_server.messages) == 1

    feed["items"] = entries(ON_THEME + OFF_THEME + [LATER])
    third = monitor(settings=settings)

    assert (third.new_items, third.alerts_sent) == (1, 1)
    assert len(smtp_server.messages) == 2
    assert alerted_titles(smtp_server.messages[1]) == {LATER[0]}
