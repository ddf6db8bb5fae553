"""The ``digest`` Prefect flow: deployments call it with a config path."""

from __future__ import annotations

import pytest

from flows.digest import digest
from silkwatch.config import load_settings

pytestmark = pytest.mark.usefixtures("prefect_backend")

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
name = "ports"
label = "Ports and logistics"
description = "Port deals."
examples = ["A port operator bought a terminal stake."]

[email]
host = "127.0.0.1"
port = {port}
sender = "digest@alerts.example"
recipients = ["team@example.org"]

[digest]
recipients = ["a@example.org", "b@example.org"]

[alerts]
rules = []
"""


def test_digest_flow_sends_one_email_per_recipient_once(write_config, smtp_server, seed_items):
    path = write_config(CONFIG.format(port=smtp_server.port))
    settings = load_settings(path, environ={})
    seed_items(
        settings,
        [
            {
                "id": "a",
                "title": "City Brain expands",
                "url": "https://n.example/a",
                "scores": {"smart_cities": 0.9, "ports": 0.1},
            },
            {"id": "p", "title": "Gwadar terminal deal", "scores": {"ports": 0.7}},
        ],
    )

    first = digest(config_path=str(path))

    assert first.sent == ("a@example.org", "b@example.org") and first.items == 2
    assert [m["To"] for m in smtp_server.messages] == ["a@example.org", "b@example.org"]
    text = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert "== Smart cities (1) ==" in text and "== Ports and logistics (1) ==" in text

    second = digest(config_path=str(path))
    assert second.skipped == ("a@example.org", "b@example.org") and second.sent == ()
    assert len(smtp_server.messages) == 2
