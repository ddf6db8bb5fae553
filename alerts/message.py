"""Alert emails: one multipart (text + HTML) message per rule, channel and run.

The Message-ID is derived from the rule, the channel and the sorted item ids, so the
same alert always carries the same id: if a crash makes us send it twice, mail clients
fold the copies into one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from alerts.render import html_env, item_view, text_env
from alerts.select import PlannedAlert

__all__ = ["alert_email", "build_email", "header_text", "message_id_for"]


def message_id_for(*parts: str, sender: str = "") -> str:
    """A stable RFC 5322 Message-ID from identifying parts (rule, channel, item ids…)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    domain = parseaddr(sender)[1].rpartition("@")[2] or "silkwatch.localhost"
    return f"<{digest}@{domain}>"


def header_text(text: str, limit: int = 150) -> str:
    """Feed text made safe for a header: one line, no control characters, bounded."""
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def build_email(
    *,
    subject: str,
    text: str,
    html: str,
    sender: str,
    recipients: Sequence[str],
    message_id: str,
    created_at: datetime,
    extra_headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative message with CRLF line ends, ready to store and send."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = header_text(subject)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(created_at)
    msg["Message-ID"] = message_id
    # RFC 3834: machine-generated, so auto-responders stay quiet.
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in (extra_headers or {}).items():
        msg[name] = header_text(value)
    # Quoted-printable keeps every line 7-bit and short, whatever the server supports.
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg


def alert_email(
    planned: PlannedAlert,
    *,
    labels: Mapping[str, str],
    sender: str,
    recipients: Sequence[str],
    created_at: datetime,
) -> EmailMessage:
    """The alert for one rule: every new match, best first, with source, time and why."""
    items = [item_view(m.item, labels, m.themes) for m in planned.matches]
    n = len(items)
    subject = f"[silkwatch] {planned.rule}: {n} new match{'es' if n != 1 else ''}"
    if n:
        subject += f" — {items[0]['title']}"
    context = {"rule": planned.rule, "items": items, "count": n, "subject": subject}
    return build_email(
        subject=subject,
        text=text_env().get_template("alert.txt.j2").render(context),
        html=html_env().get_template("alert.html.j2").render(context),
        sender=sender,
        recipients=recipients,
        message_id=message_id_for(planned.rule, planned.channel, *planned.item_ids, sender=sender),
        created_at=created_at,
        extra_headers={"X-Silkwatch-Rule": planned.rule},
    )
