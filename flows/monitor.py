"""The ``monitor`` flow: one cycle of ingest → classify → alert.

Tasks are coarse on purpose (Prefect costs milliseconds and API writes per task run):
one task for the whole ingest stage, one for classification, one for delivery, and one
to publish to the shared DuckLake when ``[lake]`` is configured.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from flows.ingest import ingest_feeds, shard_feeds
from silkwatch.config import Settings, load_settings
from silkwatch.types import CycleSummary, FeedOutcome

__all__ = ["monitor", "run_cycle"]


@task(name="ingest-feeds", cache_policy=NO_CACHE, persist_result=False)
def ingest_task(
    settings: Settings,
    run_id: str,
    shard: int = 0,
    shards: int = 1,
    progress: Callable[[FeedOutcome], None] | None = None,
) -> list[FeedOutcome]:
    feeds = shard_feeds(settings.feeds, shard, shards)
    return asyncio.run(ingest_feeds(settings, run_id=run_id, feeds=feeds, progress=progress))


def _summarise(run_id: str, outcomes: list[FeedOutcome], **extra: object) -> CycleSummary:
    counts = {"ok": 0, "not_modified": 0, "failed": 0, "skipped": 0}
    for o in outcomes:
        counts[o.status] += 1
    return CycleSummary(
        run_id=run_id,
        feeds_ok=counts["ok"],
        feeds_not_modified=counts["not_modified"],
        feeds_failed=counts["failed"],
        feeds_skipped=counts["skipped"],
        new_items=sum(o.new_items for o in outcomes),
        failures=tuple((o.url, str(o.error)) for o in outcomes if o.error is not None),
        **extra,  # type: ignore[arg-type]
    )


def run_cycle(
    settings: Settings,
    *,
    run_id: str,
    shard: int = 0,
    shards: int = 1,
    progress: Callable[[FeedOutcome], None] | None = None,
    classify: bool = True,
    alert: bool = True,
) -> CycleSummary:
    """The body of the flow, callable inside any flow (the demo and backfills reuse it)."""
    logger = get_run_logger()
    started = time.perf_counter()
    outcomes = ingest_task(settings, run_id, shard, shards, progress)
    failed = [o for o in outcomes if o.status == "failed"]
    for o in failed:
        logger.warning("feed failed: %s", o.error)
    scored = matches = sent = send_failed = 0
    if classify and settings.themes:
        from flows.classify import classify_task  # ingest-only runs never load the model

        result = classify_task(settings)
        scored, matches = result.scored, result.matched
    # one deliverer for shards sharing a database; each one when each has its own
    if alert and (shard == 0 or settings.alerts.every_shard):
        from flows.notify import deliver_alerts_task

        alerts = deliver_alerts_task(settings, run_id=run_id)
        sent, send_failed = alerts.sent, alerts.failed
    lake: dict[str, object] = {}
    if settings.lake.enabled and settings.lake.publish_every_cycle:
        from flows.lake import publish_lake_task

        outcome = publish_lake_task(settings)
        if outcome.published:
            lake = {"lake_items": outcome.published.items, "lake_scores": outcome.published.scores}
        else:
            lake = {"lake_error": outcome.error}
    summary = _summarise(
        run_id,
        outcomes,
        items_scored=scored,
        matches=matches,
        alerts_sent=sent,
        alerts_failed=send_failed,
        elapsed_seconds=time.perf_counter() - started,
        **lake,
    )
    logger.info(
        "cycle done: %d ok, %d not modified, %d failed, %d skipped; %d new items, "
        "%d scored, %d matches, %d alerts sent",
        summary.feeds_ok,
        summary.feeds_not_modified,
        summary.feeds_failed,
        summary.feeds_skipped,
        summary.new_items,
        summary.items_scored,
        summary.matches,
        summary.alerts_sent,
    )
    return summary


@flow(name="monitor", log_prints=False)
def monitor(
    settings: Settings | None = None,
    config_path: str | None = None,
    shard: int = 0,
    shards: int = 1,
    classify: bool = True,
    alert: bool = True,
    progress: Callable[[FeedOutcome], None] | None = None,
) -> CycleSummary:
    """One monitoring cycle. Deployments pass ``config_path``; code may pass ``settings``.

    ``shard``/``shards`` split the feed list by URL hash so several workers can share it.
    """
    if settings is None:
        settings = load_settings(config_path)
    ctx = FlowRunContext.get()
    run_id = str(ctx.flow_run.id) if ctx and ctx.flow_run else str(uuid.uuid4())
    return run_cycle(
        settings,
        run_id=run_id,
        shard=shard,
        shards=shards,
        progress=progress,
        classify=classify,
        alert=alert,
    )
