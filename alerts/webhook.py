"""Webhook delivery: a Slack incoming-webhook message, or a signed JSON event.

The body is rendered once (``slack_body``/``json_body``) and stored; ``post_webhook``
sends those exact bytes and, for the JSON format with ``secret_env`` set, signs them:
``X-Silkwatch-Signature: sha256=<hex HMAC-SHA256 of the body>``. Receivers verify by
recomputing the HMAC over the raw body they got, before parsing it.

The URL (which often carries a token) comes from the environment variable named by
``url_env`` and never appears in errors: they name the channel, ``webhook:NAME``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from alerts.render import item_view, safe_href
from alerts.select import PlannedAlert
from silkwatch.config import WebhookSettings
from silkwatch.errors import AlertDeliveryError

__all__ = [
    "SIGNATURE_HEADER",
    "json_body",
    "post_webhook",
    "sign",
    "slack_body",
]

SIGNATURE_HEADER = "X-Silkwatch-Signature"
MESSAGE_ID_HEADER = "X-Silkwatch-Message-Id"


def _dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON with a fixed key order: the same alert gives the same bytes."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_body(
    planned: PlannedAlert, *, message_id: str, created_at: datetime, labels: Mapping[str, str]
) -> bytes:
    """The JSON event: ``event_type``, ids, and every match with its scores and reason."""
    matches = []
    for m in planned.matches:
        view = item_view(m.item, labels, m.themes)
        matches.append(
            {
                "item_id": m.item.item_id,
                "title": view["title"],
                "url": view["href"],
                "feed_url": m.item.feed_url,
                "source": view["source"],
                "published_at": _iso(m.item.published_at),
                "fetched_at": _iso(m.item.fetched_at),
                "theme": m.item.theme,
                "score": round(m.item.score, 4),
                "themes": {t: round(s, 4) for t, s in m.themes},
                "why": view["why"],
            }
        )
    return _dumps(
        {
            "event_type": "silkwatch.alert",
            "message_id": message_id,
            "rule": planned.rule,
            "created_at": _iso(created_at),
            "matches": matches,
        }
    )


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(planned: PlannedAlert, *, labels: Mapping[str, str]) -> bytes:
    """A Slack message: a header line, then one bullet per match, linked when http(s)."""
    n = len(planned.matches)
    lines = [
        f"*silkwatch*: {n} new match{'es' if n != 1 else ''} for rule "
        f"`{_slack_escape(planned.rule)}`"
    ]
    for m in planned.matches:
        view = item_view(m.item, labels, m.themes)
        title = _slack_escape(view["title"]).replace("|", "¦")
        href = safe_href(m.item.url)
        link = f"<{_slack_escape(href)}|{title}>" if href else title
        themes = ", ".join(f"{t['label']} {t['score']}" for t in view["themes"])
        line = f"• {link} ({_slack_escape(view['source'])}; {_slack_escape(themes)})"
        if view["why"]:
            line += f"\n    _{_slack_escape(view['why'])}_"
        lines.append(line)
    return _dumps({"text": "\n".join(lines), "unfurl_links": False, "unfurl_media": False})


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _env(environ: Mapping[str, str], var: str, channel: str, what: str) -> str:
    value = environ.get(var)
    if not value:
        raise AlertDeliveryError(
            channel,
            channel,
            f"environment variable {var} ({what}) is not set",
            transient=False,
        )
    return value


def post_webhook(
    name: str,
    settings: WebhookSettings,
    body: bytes,
    *,
    message_id: str,
    environ: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
) -> None:
    """POST the stored body; any failure raises ``AlertDeliveryError`` naming ``webhook:NAME``.

    Any non-2xx answer is a failure. 5xx, 429 and network errors are transient; others
    (4xx, 3xx) need a configuration fix. Failed messages are retried next run either way.
    """
    environ = os.environ if environ is None else environ
    channel = f"webhook:{name}"
    url = _env(environ, settings.url_env, channel, f"webhooks.{name}.url_env")
    if safe_href(url) is None:
        raise AlertDeliveryError(
            channel, channel, f"{settings.url_env} does not hold an http(s) URL", transient=False
        )
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "silkwatch/0.1",
        MESSAGE_ID_HEADER: message_id,
    }
    if settings.format == "json" and settings.secret_env:
        secret = _env(environ, settings.secret_env, channel, f"webhooks.{name}.secret_env")
        headers[SIGNATURE_HEADER] = sign(secret, body)
    own_client = client is None
    http = client or httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False)
    try:
        response = http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        # httpx messages can quote the URL; name the exception kind only.
        raise AlertDeliveryError(
            channel, channel, f"request failed ({type(exc).__name__})", transient=True
        ) from None
    finally:
        if own_client:
            http.close()
    if not 200 <= response.status_code < 300:
        # A redirect is not a delivery either: webhooks are POSTed to their final URL.
        transient = response.status_code >= 500 or response.status_code == 429
        raise AlertDeliveryError(
            channel,
            channel,
            f"HTTP {response.status_code} {response.reason_phrase}".rstrip(),
            transient=transient,
        )
