"""Email delivery: SMTP (plain, STARTTLS or implicit TLS), or ``.eml`` files in the outbox.

Messages arrive here as the exact bytes stored before sending, so a retry sends the same
bytes. The password is read from the environment variable named by ``password_env`` at
send time and is never put into an error message, a log line or the database.
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.parser import BytesHeaderParser
from email.policy import SMTP as SMTP_POLICY
from email.utils import getaddresses, parseaddr
from pathlib import Path

from silkwatch.config import EmailSettings
from silkwatch.errors import AlertDeliveryError

__all__ = ["envelope", "send_email", "smtp_target", "write_eml"]


def smtp_target(settings: EmailSettings) -> str:
    """How errors name the server: host and port, never credentials."""
    return f"{settings.host}:{settings.port}"


def envelope(message: bytes) -> tuple[str, list[str]]:
    """Envelope sender and recipients, read from the stored message's own headers."""
    headers = BytesHeaderParser(policy=SMTP_POLICY).parsebytes(message)
    sender = parseaddr(str(headers.get("From", "")))[1]
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in headers.get_all(name, [])]
    recipients = [addr for _, addr in getaddresses(fields) if addr]
    return sender, recipients


def _password(settings: EmailSettings, environ: Mapping[str, str]) -> str | None:
    target = smtp_target(settings)
    if settings.username is None:
        return None
    if not settings.password_env:
        raise AlertDeliveryError(
            "email",
            target,
            "email.username is set but email.password_env is not",
            transient=False,
        )
    password = environ.get(settings.password_env)
    if password is None:
        raise AlertDeliveryError(
            "email",
            target,
            f"environment variable {settings.password_env} (email.password_env) is not set",
            transient=False,
        )
    return password


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _describe(exc: BaseException) -> tuple[str, bool]:
    """A message and whether trying again later may help."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"login refused: {exc.smtp_code} {_decode(exc.smtp_error)}", False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{a} ({c} {_decode(m)})" for a, (c, m) in exc.recipients.items())
        return f"recipients refused: {refused}", False
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"server said {exc.smtp_code} {_decode(exc.smtp_error)}", exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"server does not support this: {exc}", False
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc}", False
    if isinstance(exc, smtplib.SMTPServerDisconnected | socket.timeout | OSError):
        return f"cannot reach the server: {exc}", True
    return f"{type(exc).__name__}: {exc}", True


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def send_email(
    settings: EmailSettings,
    message: bytes,
    *,
    environ: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Send one stored message over SMTP; raise ``AlertDeliveryError`` naming the server.

    ``ssl_context`` defaults to the system trust store (``SSL_CERT_FILE`` is honoured),
    with certificate and host name checks on.
    """
    environ = os.environ if environ is None else environ
    target = smtp_target(settings)
    password = _password(settings, environ)
    sender, recipients = envelope(message)
    if not recipients:
        raise AlertDeliveryError(
            "email", target, "the message has no recipients (set email.recipients)", transient=False
        )
    context = ssl_context or ssl.create_default_context()
    try:
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=context)
            if settings.username is not None and password is not None:
                smtp.login(settings.username, password)
            smtp.sendmail(sender or settings.sender, recipients, message)
    except AlertDeliveryError:
        raise
    except Exception as exc:
        text, transient = _describe(exc)
        raise AlertDeliveryError(
            "email", target, _scrub(text, password), transient=transient
        ) from None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def write_eml(outbox: Path, message_id: str, message: bytes) -> Path:
    """Write the message as ``<outbox>/<message id>.eml`` and return the path.

    Named after the Message-ID, so writing the same message again replaces the file
    instead of adding a copy; written to a temporary name first so a reader never sees
    half a message.
    """
    name = _UNSAFE.sub("_", message_id.strip("<>")).strip("._") or "message"
    try:
        outbox.mkdir(parents=True, exist_ok=True)
        path = outbox / f"{name}.eml"
        tmp = path.with_suffix(".eml.tmp")
        tmp.write_bytes(message)
        os.replace(tmp, path)
    except OSError as exc:
        raise AlertDeliveryError(
            "outbox", str(outbox), f"cannot write: {exc}", transient=False
        ) from None
    return path
