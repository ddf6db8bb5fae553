"""Alert delivery for a monitoring cycle: select new matches, queue them, send, record.

Order of work, which is what makes every alert arrive exactly once (at most the one
message in flight at a crash arrives twice, with the same Message-ID):

1. select each rule's new matches (items stored in the last ``alerts.max_age_hours``,
   never queued before for that rule and channel, one per story);
2. render one message per rule and channel and commit it with one ``pending`` row per
   item in a single transaction, *before* sending anything;
3. send every message that is still ``pending`` or ``failed`` (including earlier runs'),
   from its stored bytes, and mark its rows ``sent`` or ``failed``.

Delivery is called directly by the monitor flow (with task retries and a timeout), not
through Prefect automations. Prefect events ``silkwatch.item.matched``,
``silkwatch.alert.sent`` and ``silkwatch.alert.failed`` are emitted for observability when
running inside a flow; an unreachable Prefect API never stops a delivery.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from alerts.channels import deliver, render_alert
from alerts.select import PlannedAlert, effective_channel, min_score_for, select_alerts
from silkwatch.config import Settings
from silkwatch.errors import AlertDeliveryError
from warehouse.alert_log import (
    NewMessage,
    StoredMessage,
    alerted_keys,
    current_scores,
    mark_message,
    outstanding_messages,
    record_messages,
)
from warehouse.db import open_db

if TYPE_CHECKING:
    import duckdb

__all__ = ["AlertResult", "deliver_alerts", "deliver_alerts_task", "plan_alerts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertResult:
    """What one delivery pass did. ``sent``/``failed`` count messages, not items."""

    sent: int = 0
    failed: int = 0
    queued: int = 0  # new messages rendered and queued this run
    new_items: int = 0  # new (rule, item, channel) deliveries queued this run
    outbox: tuple[str, ...] = ()  # .eml files written (no [email] configured)
    errors: tuple[str, ...] = ()  # one line per failed message, naming the channel


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    if _in_prefect_run():
        from prefect import get_run_logger

        return get_run_logger()
    return log


def _in_prefect_run() -> bool:
    # Checked without importing Prefect's context when nothing imported it (a plain call).
    if "prefect.context" not in sys.modules:
        return False
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def _emit(
    event: str, resource: dict[str, str], payload: dict[str, Any], related: list[dict[str, str]]
) -> None:
    """Emit a Prefect event; never let the event bus break or slow a delivery."""
    try:
        from prefect.events import emit_event

        emit_event(event=event, resource=resource, payload=payload, related=related)
    except Exception as exc:  # the API may be down; delivery must go on
        log.warning("could not emit Prefect event %s: %s", event, exc)


def _rule_resource(rule: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"silkwatch.rule.{rule}",
        "prefect.resource.role": "rule",
        "prefect.resource.name": rule,
    }


def plan_alerts(
    db: duckdb.DuckDBPyConnection, settings: Settings, now: datetime
) -> list[PlannedAlert]:
    """Each rule's new matches per channel, from the current scores in the database."""
    rules = settings.alerts.rules
    if not rules:
        return []
    thresholds = {t.name: t.threshold for t in settings.themes}
    themes = sorted({t for r in rules for t in r.themes})
    floor = min(min_score_for(r, t, thresholds) for r in rules for t in r.themes)
    scored = current_scores(
        db,
        themes_version=settings.themes_version(),
        since=now - timedelta(hours=settings.alerts.max_age_hours),
        until=None,
        themes=themes,
        min_score=floor,
    )
    email_configured = settings.email is not None
    return select_alerts(
        rules,
        scored,
        thresholds,
        alerted_keys(db),
        channel_for=lambda ch: effective_channel(ch, email_configured=email_configured),
    )


def _send(
    message: StoredMessage, settings: Settings, environ: Mapping[str, str]
) -> tuple[bool, str | None, str | None]:
    """Deliver one stored message: ``(ok, error, outbox path)``."""
    try:
        path = deliver(
            message.channel, message.message_id, message.payload, settings, environ=environ
        )
    except AlertDeliveryError as exc:
        return False, str(exc), None
    return True, None, str(path) if path else None


def deliver_alerts(
    settings: Settings,
    *,
    run_id: str,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
) -> AlertResult:
    """Queue new alerts and send everything not yet delivered; see the module docstring.

    Delivery failures are recorded, counted and retried on the next run; they are not
    raised. A database that stays busy raises ``DatabaseBusyError`` (nothing was sent).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    environ = os.environ if environ is None else environ
    logger = _logger()
    events = _in_prefect_run()
    db_path = settings.storage.database
    busy = settings.storage.busy_timeout_seconds

    with open_db(db_path, busy_timeout=busy) as db:
        planned = plan_alerts(db, settings, now)
        new = []
        for p in planned:
            message_id, payload = render_alert(p, settings, now)
            items = tuple((m.item.item_id, m.item.story_key) for m in p.matches)
            new.append(NewMessage(message_id, p.rule, p.channel, payload, items))
        added = record_messages(db, new, now=now)
        outstanding = outstanding_messages(db)

    if events:
        seen: set[tuple[str, str]] = set()
        for p in planned:
            for m in p.matches:
                if (p.rule, m.item.item_id) in seen:
                    continue
                seen.add((p.rule, m.item.item_id))
                _emit(
                    "silkwatch.item.matched",
                    {
                        "prefect.resource.id": f"silkwatch.item.{m.item.item_id}",
                        "prefect.resource.name": m.item.title[:200],
                    },
                    {
                        "rule": p.rule,
                        "theme": m.item.theme,
                        "score": round(m.item.score, 4),
                        "themes": dict(m.themes),
                        "url": m.item.url,
                        "feed_url": m.item.feed_url,
                        "run_id": run_id,
                    },
                    [_rule_resource(p.rule)],
                )

    sent = failed = 0
    outbox: list[str] = []
    errors: list[str] = []
    for message in outstanding:
        ok, error, path = _send(message, settings, environ)
        with open_db(db_path, busy_timeout=busy) as db:
            mark_message(db, message.message_id, ok=ok, now=datetime.now(UTC), error=error)
        payload = {
            "rule": message.rule,
            "channel": message.channel,
            "message_id": message.message_id,
            "items": list(message.item_ids),
            "attempt": message.attempts + 1,
            "run_id": run_id,
        }
        if ok:
            sent += 1
            if path:
                outbox.append(path)
                logger.info("alert for rule %s written to %s", message.rule, path)
            else:
                logger.info(
                    "alert for rule %s sent on %s (%d items)",
                    message.rule,
                    message.channel,
                    len(message.item_ids),
                )
        else:
            failed += 1
            errors.append(error or "unknown error")
            logger.warning(
                "alert for rule %s not delivered (attempt %d, will retry next run): %s",
                message.rule,
                message.attempts + 1,
                error,
            )
            payload["error"] = error
        if events:
            _emit(
                "silkwatch.alert.sent" if ok else "silkwatch.alert.failed",
                {
                    "prefect.resource.id": f"silkwatch.alert.{message.message_id.strip('<>')}",
                    "prefect.resource.name": f"{message.rule} via {message.channel}",
                },
                payload,
                [_rule_resource(message.rule)],
            )
    return AlertResult(
        sent=sent,
        failed=failed,
        queued=len(new),
        new_items=added,
        outbox=tuple(outbox),
        errors=tuple(errors),
    )


deliver_alerts_task = task(
    name="deliver-alerts",
    # Delivery failures are recorded, not raised; retries cover a busy database and the like,
    # and are safe because every send goes through the ledger.
    retries=2,
    retry_delay_seconds=[5, 30],
    timeout_seconds=900,
    cache_policy=NO_CACHE,
    persist_result=False,
)(deliver_alerts)
