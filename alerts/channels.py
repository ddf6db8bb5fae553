"""One place that knows every channel: how an alert is rendered for it, and how it is sent.

``render_alert`` runs once per planned message (its bytes are stored before any sending);
``deliver`` sends stored bytes and may run several times for one message (retries).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from alerts.email import send_email, write_eml
from alerts.message import alert_email, message_id_for
from alerts.select import PlannedAlert
from alerts.webhook import json_body, post_webhook, slack_body
from silkwatch.config import Settings
from silkwatch.errors import AlertDeliveryError

__all__ = ["OUTBOX_ADDRESS", "deliver", "render_alert", "theme_labels"]

#: sender and recipient of messages written to the outbox when no [email] is configured
OUTBOX_ADDRESS = "silkwatch@localhost"


def theme_labels(settings: Settings) -> dict[str, str]:
    return {t.name: t.label for t in settings.themes}


def _webhook_name(channel: str) -> str | None:
    return channel.split(":", 1)[1] if channel.startswith("webhook:") else None


def render_alert(
    planned: PlannedAlert, settings: Settings, created_at: datetime
) -> tuple[str, bytes]:
    """``(message_id, payload bytes)`` for one planned alert on its channel."""
    labels = theme_labels(settings)
    email = settings.email
    sender = email.sender if email else OUTBOX_ADDRESS
    message_id = message_id_for(planned.rule, planned.channel, *planned.item_ids, sender=sender)
    name = _webhook_name(planned.channel)
    if name is None:
        recipients = email.recipients if email and email.recipients else (OUTBOX_ADDRESS,)
        msg = alert_email(
            planned, labels=labels, sender=sender, recipients=recipients, created_at=created_at
        )
        return str(msg["Message-ID"]), msg.as_bytes()
    hook = settings.webhooks.get(name)
    if hook is not None and hook.format == "slack":
        return message_id, slack_body(planned, labels=labels)
    return message_id, json_body(
        planned, message_id=message_id, created_at=created_at, labels=labels
    )


def deliver(
    channel: str,
    message_id: str,
    payload: bytes,
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
) -> Path | None:
    """Send stored bytes on their channel; returns the file written for the outbox channel.

    Raises ``AlertDeliveryError`` (never another exception for expected failures), including
    when the channel was removed from the configuration after the message was queued.
    """
    if channel == "outbox":
        return write_eml(settings.storage.outbox, message_id, payload)
    if channel == "email":
        if settings.email is None:
            raise AlertDeliveryError(
                "email", "email", "no [email] server is configured any more", transient=False
            )
        send_email(settings.email, payload, environ=environ)
        return None
    name = _webhook_name(channel)
    hook = settings.webhooks.get(name) if name else None
    if name is None or hook is None:
        raise AlertDeliveryError(channel, channel, "channel is not configured", transient=False)
    post_webhook(name, hook, payload, message_id=message_id, environ=environ)
    return None
