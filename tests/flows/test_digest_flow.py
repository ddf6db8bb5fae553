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


def test_a_digest_from_the_lake_lists_every_writers_matches(write_config, smtp_server, seed_items):
    """Two writers with their own databases publish; the digest of one reads the lake."""
    from warehouse.lake_publish import publish_to_lake

    lake = '\n[lake]\ncatalog = "sqlite:lake/catalog.sqlite"\ndata_path = "lake/data"\n'
    base = CONFIG.format(port=smtp_server.port).replace('database = "sw.duckdb"', "{db}")
    east = write_config(base.replace("{db}", 'database = "east.duckdb"') + lake, name="e.toml")
    west = write_config(
        base.replace("{db}", 'database = "west.duckdb"').replace(
            "[digest]\n", '[digest]\nsource = "lake"\n'
        )
        + lake,
        name="w.toml",
    )
    for config, story in ((east, "City Brain reaches Kuala Lumpur"), (west, "Almaty smart lights")):
        settings = load_settings(config, environ={})
        seed_items(
            settings,
            [{"id": story[:6], "title": story, "feed": f"https://{story[:4]}.example/f.xml",
              "scores": {"smart_cities": 0.9}}],
        )  # fmt: skip
        publish_to_lake(settings.storage.database, settings.lake)

    result = digest(config_path=str(west))

    assert result.items == 2
    body = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert "City Brain reaches Kuala Lumpur" in body and "Almaty smart lights" in body


def test_a_lake_digest_without_a_lake_is_a_config_error(write_config):
    from silkwatch.errors import ConfigError

    path = write_config('[digest]\nsource = "lake"\n')
    with pytest.raises(ConfigError, match=r"digest.source: 'lake' needs lake.catalog"):
        load_settings(path, environ={})
