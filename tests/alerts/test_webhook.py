"""Webhook alerts against a loopback HTTP receiver: payloads checked byte for byte."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from alerts.webhook import post_webhook
from flows.notify import deliver_alerts
from silkwatch.config import WebhookSettings
from silkwatch.errors import AlertDeliveryError

SECRET = "hook-secret-123"
TOKEN_PATH = "/hooks/T0K3N-xyz"  # webhook URLs carry secrets: never in an error

ITEMS = [
    {
        "id": "a",
        "title": "Hangzhou <City> Brain & more",
        "url": "https://n.example/a?x=1&y=2",
        "scores": {"smart_cities": 0.91},
        "evidence": {
            "smart_cities": {
                "sentence": "Hangzhou City Brain",
                "example": "City AI",
                "keywords": ["city brain"],
                "similarity": 0.7,
            }
        },
    },
    {
        "id": "b",
        "title": "Bad | link",
        "url": "javascript:alert(1)",
        "feed_name": "Feed A",
        "scores": {"smart_cities": 0.6},
        "evidence": {"smart_cities": {}},
    },
]

MESSAGE_ID = "<2ef03dc6fadfecccfea217cbb74c990d@localhost>"  # rule, channel, sorted ids

EXPECTED_JSON = (
    '{"event_type":"silkwatch.alert",'
    '"message_id":"<2ef03dc6fadfecccfea217cbb74c990d@localhost>","rule":"cities",'
    '"created_at":"2026-11-23T12:30:00Z","matches":['
    '{"item_id":"a","title":"Hangzhou <City> Brain & more","url":"https://n.example/a?x=1&y=2",'
    '"feed_url":"https://feeds.example/a.xml","source":"Feed A",'
    '"published_at":"2026-11-23T11:00:00Z","fetched_at":"2026-11-23T11:30:00Z",'
    '"theme":"smart_cities","score":0.91,"themes":{"smart_cities":0.91},'
    '"why":"“Hangzhou City Brain”; close to “City AI”; terms: city brain"},'
    '{"item_id":"b","title":"Bad | link","url":null,'
    '"feed_url":"https://feeds.example/a.xml","source":"Feed A",'
    '"published_at":"2026-11-23T11:00:00Z","fetched_at":"2026-11-23T11:30:00Z",'
    '"theme":"smart_cities","score":0.6,"themes":{"smart_cities":0.6},"why":""}]}'
).encode()

EXPECTED_SLACK = (
    '{"text":"*silkwatch*: 2 new matches for rule `cities`\\n'
    "• <https://n.example/a?x=1&amp;y=2|Hangzhou &lt;City&gt; Brain &amp; more> "
    "(Feed A; Smart cities 0.91)\\n"
    "    _“Hangzhou City Brain”; close to “City AI”; terms: city brain_\\n"
    '• Bad ¦ link (Feed A; Smart cities 0.60)","unfurl_links":false,"unfurl_media":false}'
).encode()


def webhook_config(fmt: str, secret: bool = True) -> str:
    secret_line = 'secret_env = "HOOK_SECRET"' if secret else ""
    return f"""
[webhooks.ops]
url_env = "HOOK_URL"
format = "{fmt}"
{secret_line}

[[alerts.rules]]
name = "cities"
themes = ["smart_cities"]
channels = ["webhook:ops"]
"""


class Receiver:
    """Answers with the next status in ``statuses`` and keeps what it was sent."""

    def __init__(self, *statuses: int):
        self.statuses = list(statuses)
        self.requests: list[tuple[bytes, dict[str, str]]] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append((request.get_data(), dict(request.headers)))
        return Response("ok", status=self.statuses.pop(0) if self.statuses else 200)


def test_json_payload_and_signature_byte_for_byte(
    alert_settings, seed, httpserver: HTTPServer, now
):
    receiver = Receiver()
    httpserver.expect_request(TOKEN_PATH, method="POST").respond_with_handler(receiver)
    settings = alert_settings(webhook_config("json"))
    seed(settings, ITEMS)
    env = {"HOOK_URL": httpserver.url_for(TOKEN_PATH), "HOOK_SECRET": SECRET}

    result = deliver_alerts(settings, run_id="r1", now=now, environ=env)

    assert (result.sent, result.failed) == (1, 0)
    [(body, headers)] = receiver.requests
    assert body == EXPECTED_JSON
    expected_sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Silkwatch-Signature"] == f"sha256={expected_sig}"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Silkwatch-Message-Id"] == MESSAGE_ID


def test_slack_payload_byte_for_byte(alert_settings, seed, httpserver: HTTPServer, now):
    receiver = Receiver()
    httpserver.expect_request(TOKEN_PATH, method="POST").respond_with_handler(receiver)
    settings = alert_settings(webhook_config("slack", secret=False))
    seed(settings, ITEMS)

    deliver_alerts(
        settings, run_id="r1", now=now, environ={"HOOK_URL": httpserver.url_for(TOKEN_PATH)}
    )

    [(body, headers)] = receiver.requests
    assert body == EXPECTED_SLACK
    assert "X-Silkwatch-Signature" not in headers


def test_a_5xx_is_recorded_naming_the_webhook_and_resent_unchanged_next_run(
    alert_settings, seed, httpserver: HTTPServer, query, now
):
    receiver = Receiver(503)
    httpserver.expect_request(TOKEN_PATH, method="POST").respond_with_handler(receiver)
    settings = alert_settings(webhook_config("json"))
    seed(settings, ITEMS)
    env = {"HOOK_URL": httpserver.url_for(TOKEN_PATH), "HOOK_SECRET": SECRET}

    first = deliver_alerts(settings, run_id="r1", now=now, environ=env)

    assert first.failed == 1
    assert first.errors[0] == "webhook:ops (webhook:ops): HTTP 503 SERVICE UNAVAILABLE"
    [(error,)] = set(query(settings, "SELECT error FROM alerts_sent"))
    assert "T0K3N" not in error and "127.0.0.1" not in error

    second = deliver_alerts(settings, run_id="r2", now=now + timedelta(minutes=15), environ=env)

    assert (second.sent, second.failed) == (1, 0)
    (body1, h1), (body2, h2) = receiver.requests
    assert body1 == body2 and h1["X-Silkwatch-Signature"] == h2["X-Silkwatch-Signature"]
    assert query(settings, "SELECT DISTINCT status FROM alerts_sent") == [("sent",)]


@pytest.mark.parametrize(("status", "transient"), [(404, False), (429, True), (500, True)])
def test_error_statuses_name_the_channel_never_the_url(httpserver: HTTPServer, status, transient):
    httpserver.expect_request(TOKEN_PATH).respond_with_data("no", status=status)
    with pytest.raises(AlertDeliveryError) as info:
        post_webhook(
            "ops",
            WebhookSettings(url_env="HOOK_URL"),
            b"{}",
            message_id="<m@x>",
            environ={"HOOK_URL": httpserver.url_for(TOKEN_PATH)},
        )
    assert info.value.channel == "webhook:ops" and info.value.transient is transient
    assert str(status) in str(info.value)
    assert "T0K3N" not in str(info.value) and "127.0.0.1" not in str(info.value)


def test_unreachable_receiver_and_missing_variables(unused_port):
    hook = WebhookSettings(url_env="HOOK_URL", secret_env="HOOK_SECRET")
    url = f"http://127.0.0.1:{unused_port}{TOKEN_PATH}"
    with pytest.raises(AlertDeliveryError) as down:
        post_webhook(
            "ops", hook, b"{}", message_id="<m@x>", environ={"HOOK_URL": url, "HOOK_SECRET": "s"}
        )
    assert down.value.transient and "T0K3N" not in str(down.value)
    with pytest.raises(AlertDeliveryError, match="HOOK_URL"):
        post_webhook("ops", hook, b"{}", message_id="<m@x>", environ={})
    with pytest.raises(AlertDeliveryError, match="HOOK_SECRET"):
        post_webhook("ops", hook, b"{}", message_id="<m@x>", environ={"HOOK_URL": url})
