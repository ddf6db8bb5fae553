"""The ``digest`` flow: one email per recipient with what matched in the period, per theme.

Periods and "not twice": the digest lists items first stored in ``[now - since, now)``.
It is recorded in ``digests_sent`` under a key made of whole hours (the period ending at
the start of the current hour), so a rerun or a retry within the hour finds the period
already sent to that recipient and skips it, unless ``force``. A failed or interrupted
send is retried with the same Message-ID on the next call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from alerts.channels import OUTBOX_ADDRESS
from alerts.digest import CHART_DAYS, FailingFeed, digest_context, digest_email, render_digest_html
from alerts.email import send_email, write_eml
from alerts.message import message_id_for
from silkwatch.config import Settings, load_settings
from silkwatch.errors import AlertDeliveryError, ConfigError
from warehouse.alert_log import (
    current_scores,
    digest_record,
    failing_feeds,
    match_history,
    record_digest,
)
from warehouse.db import open_db

__all__ = [
    "DigestResult",
    "build_digest_context",
    "digest",
    "digest_period",
    "send_digest",
    "send_digest_task",
]

#: feeds failing for longer than this are listed in the digest footer
FAILING_FOR = timedelta(days=1)


@dataclass(frozen=True)
class DigestResult:
    period_start: datetime  # the recorded period (whole hours)
    period_end: datetime
    items: int  # distinct stories listed
    sent: tuple[str, ...] = ()  # recipients delivered to now
    skipped: tuple[str, ...] = ()  # already sent for this period (use force)
    failed: tuple[tuple[str, str], ...] = ()  # (recipient, error naming the channel)
    outbox: tuple[str, ...] = ()  # .eml files written (no [email] configured)
    output: str | None = None  # HTML file written instead of sending


def digest_period(now: datetime, since_hours: float) -> tuple[datetime, datetime]:
    """The recorded period for a digest made at ``now``: whole hours, ending this hour."""
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return end - timedelta(hours=since_hours), end


def _recipients(settings: Settings, to: Sequence[str] | None) -> tuple[str, ...]:
    if to:
        return tuple(to)
    if settings.digest.recipients:
        return settings.digest.recipients
    if settings.email is None:
        return (OUTBOX_ADDRESS,)
    if settings.email.recipients:
        return settings.email.recipients
    raise ConfigError(
        "no digest recipients: set digest.recipients or email.recipients, or pass --to",
        key="digest.recipients",
        source=settings.source,
    )


def _read_warehouse(settings: Settings) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """This writer's database, or with ``digest.source = "lake"`` every writer's rows."""
    if settings.digest.source == "lake":
        from warehouse.lake_admin import open_lake

        return open_lake(settings.lake)
    return open_db(settings.storage.database, busy_timeout=settings.storage.busy_timeout_seconds)


def build_digest_context(settings: Settings, now: datetime, since_hours: float) -> dict[str, Any]:
    """Query the warehouse and assemble what the digest shows (no sending)."""
    tz = ZoneInfo(settings.schedule.timezone)
    start = now - timedelta(hours=since_hours)
    version = settings.themes_version()
    today = now.astimezone(tz).date()
    chart_from = datetime.combine(
        today - timedelta(days=CHART_DAYS - 1), datetime.min.time(), tzinfo=tz
    )
    with _read_warehouse(settings) as db:
        matches = current_scores(
            db,
            themes_version=version,
            since=start,
            until=now,
            themes=[t.name for t in settings.themes],
            matched_only=True,
        )
        history = match_history(db, themes_version=version, since=chart_from, until=now)
        failing = [
            FailingFeed(url, name, since, err)
            for url, name, since, err in failing_feeds(db, failing_since=now - FAILING_FOR)
        ]
    return digest_context(
        themes=settings.themes,
        matches=matches,
        history=history,
        failing=failing,
        period_start=start,
        period_end=now,
        max_items=settings.digest.max_items_per_theme,
        tz=tz,
    )


def send_digest(
    settings: Settings,
    *,
    since_hours: float | None = None,
    to: Sequence[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    force: bool = False,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
) -> DigestResult:
    """Build the digest and send it to each recipient not yet served for this period.

    With ``output`` the HTML is written to that file instead (nothing sent or recorded).
    Without an ``[email]`` server the messages go to ``.eml`` files in the outbox.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    since_hours = since_hours or settings.digest.since_hours
    key_start, key_end = digest_period(now, since_hours)
    context = build_digest_context(settings, now, since_hours)
    total = context["total"]
    if output is not None:
        path = Path(output)
        try:
            path.write_text(render_digest_html(context), encoding="utf-8")
        except OSError as exc:
            raise AlertDeliveryError(
                "file", str(path), f"cannot write: {exc}", transient=False
            ) from None
        return DigestResult(key_start, key_end, total, output=str(path))

    email = settings.email
    sender = email.sender if email else OUTBOX_ADDRESS
    sent: list[str] = []
    skipped: list[str] = []
    failed: list[tuple[str, str]] = []
    outbox: list[str] = []
    db_args = {"busy_timeout": settings.storage.busy_timeout_seconds}
    for recipient in _recipients(settings, to):
        with open_db(settings.storage.database, **db_args) as db:
            record = digest_record(db, start=key_start, end=key_end, recipient=recipient)
            if record and record.status == "sent" and not force:
                skipped.append(recipient)
                continue
            if record and record.message_id and record.status != "sent" and not force:
                message_id = record.message_id  # a retry: same id, so clients fold copies
            else:
                parts = ["digest", key_start.isoformat(), key_end.isoformat(), recipient]
                if force:
                    parts.append(now.isoformat())
                message_id = message_id_for(*parts, sender=sender)
            record_digest(
                db,
                start=key_start,
                end=key_end,
                recipient=recipient,
                status="pending",
                message_id=message_id,
                items=total,
                now=now,
            )
        msg = digest_email(
            context, sender=sender, recipient=recipient, created_at=now, message_id=message_id
        ).as_bytes()
        error = None
        try:
            if email is None:
                outbox.append(str(write_eml(settings.storage.outbox, message_id, msg)))
            else:
                send_email(email, msg, environ=environ)
        except AlertDeliveryError as exc:
            error = str(exc)
        with open_db(settings.storage.database, **db_args) as db:
            record_digest(
                db,
                start=key_start,
                end=key_end,
                recipient=recipient,
                status="failed" if error else "sent",
                message_id=message_id,
                items=total,
                now=datetime.now(UTC),
                error=error,
            )
        if error:
            failed.append((recipient, error))
        else:
            sent.append(recipient)
    return DigestResult(
        key_start, key_end, total, tuple(sent), tuple(skipped), tuple(failed), tuple(outbox)
    )


send_digest_task = task(
    name="send-digest",
    retries=1,
    retry_delay_seconds=30,
    timeout_seconds=900,
    cache_policy=NO_CACHE,
    persist_result=False,
)(send_digest)


@flow(name="digest", log_prints=False)
def digest(
    settings: Settings | None = None,
    config_path: str | None = None,
    since_hours: float | None = None,
    to: list[str] | None = None,
    output: str | None = None,
    force: bool = False,
) -> DigestResult:
    """The daily digest. Deployments pass ``config_path``; code may pass ``settings``."""
    if settings is None:
        settings = load_settings(config_path)
    return send_digest_task(settings, since_hours=since_hours, to=to, output=output, force=force)
