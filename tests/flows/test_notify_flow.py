"""Alert delivery as a Prefect task: it delivers, and it emits events users can automate on."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prefect import flow

from flows.notify import deliver_alerts_task
from silkwatch.config import Settings, load_settings

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

[email]
host = "127.0.0.1"
port = {port}
recipients = ["analyst@example.org"]

[[alerts.rules]]
name = "cities"
themes = ["smart_cities"]
"""


@flow(name="deliver-alerts-test")
def deliver_in_a_flow(settings: Settings, run_id: str):
    return deliver_alerts_task(settings, run_id=run_id)


def read_events(run_id: str, expect: int, timeout: float = 60.0) -> list:
    """Our events for this run, polling until ``expect`` arrived (events are sent async)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    deadline = time.monotonic() + timeout
    found: list = []
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            page = client.read_events(
                filter=EventFilter(
                    event=EventNameFilter(prefix=["silkwatch."]),
                    occurred=EventOccurredFilter(since=datetime.now(UTC) - timedelta(hours=1)),
                ),
                limit=50,
            )
        found = [e for e in page.events if e.payload.get("run_id") == run_id]
        if len(found) >= expect:
            break
        time.sleep(0.5)
    return found


def test_the_task_delivers_and_emits_matched_and_sent_events(write_config, smtp_server, seed_items):
    settings = load_settings(write_config(CONFIG.format(port=smtp_server.port)), environ={})
    seed_items(
        settings,
        [
            {"id": "a", "title": "City Brain", "scores": {"smart_cities": 0.9}},
            {"id": "b", "title": "Traffic AI", "scores": {"smart_cities": 0.7}},
            {"id": "c", "title": "Football", "scores": {"smart_cities": 0.1}},
        ],
    )
    run_id = str(uuid.uuid4())

    result = deliver_in_a_flow(settings, run_id)

    assert (result.sent, result.failed) == (1, 0)
    assert len(smtp_server.messages) == 1
    events = read_events(run_id, expect=3)
    matched = sorted(e.resource.id for e in events if e.event == "silkwatch.item.matched")
    assert matched == ["silkwatch.item.a", "silkwatch.item.b"]
    [sent] = [e for e in events if e.event == "silkwatch.alert.sent"]
    assert sent.payload["rule"] == "cities" and sent.payload["channel"] == "email"
    assert sent.payload["items"] == ["a", "b"]
    assert sent.payload["message_id"] == smtp_server.messages[0]["Message-ID"]
    assert "silkwatch.rule.cities" in {r.id for r in sent.related}  # plus flow run, task run


def test_an_unreachable_server_fails_the_message_not_the_task(
    write_config, unused_port, seed_items
):
    settings = load_settings(write_config(CONFIG.format(port=unused_port)), environ={})
    seed_items(settings, [{"id": "a", "title": "City Brain", "scores": {"smart_cities": 0.9}}])
    run_id = str(uuid.uuid4())

    result = deliver_in_a_flow(settings, run_id)

    assert (result.sent, result.failed) == (0, 1)
    events = read_events(run_id, expect=2)
    assert {e.event for e in events} == {"silkwatch.item.matched", "silkwatch.alert.failed"}
    [failed] = [e for e in events if e.event == "silkwatch.alert.failed"]
    assert f"127.0.0.1:{unused_port}" in failed.payload["error"]


def test_a_cycle_with_smtp_down_completes_and_the_next_cycle_delivers(
    write_config, unused_port, make_smtp_server, seed_items
):
    from flows.monitor import monitor
    from warehouse.db import open_db

    # No feeds to fetch: the matches are already stored (scored as the classifier would).
    settings = load_settings(
        write_config("feeds = []\n" + CONFIG.format(port=unused_port)), environ={}
    )
    seed_items(settings, [{"id": "a", "title": "City Brain", "scores": {"smart_cities": 0.9}}])

    down = monitor(settings=settings, classify=False)

    assert (down.alerts_sent, down.alerts_failed) == (0, 1)
    with open_db(settings.storage.database) as db:
        assert db.sql("SELECT status, attempts FROM alerts_sent").fetchall() == [("failed", 1)]

    server = make_smtp_server(port=unused_port)
    up = monitor(settings=settings, classify=False)

    assert (up.alerts_sent, up.alerts_failed) == (1, 0)
    assert len(server.messages) == 1
