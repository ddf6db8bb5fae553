"""The ingest stage of a cycle: fetch → parse → store, one outcome per feed.

Fetching is async (one client, total and per-host limits); parsing runs in a worker thread
so slow parses never stall downloads; storing is done by a single writer that opens the
DuckDB file only while it has outcomes to save, so `silkwatch sql` can get in between.
Every feed ends with exactly one recorded outcome: an unexpected exception in one feed is
turned into that feed's error instead of ending the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

from feeds.decide import is_due, state_after_error, state_after_fetch
from feeds.fetch import Fetcher
from feeds.parse import parse_feed
from silkwatch.config import FeedSettings, Settings
from silkwatch.errors import FeedError
from silkwatch.types import FeedOutcome, FeedState
from warehouse.db import open_db
from warehouse.feed_store import load_feed_states, save_outcomes, sync_feeds

__all__ = ["InternalFeedError", "ingest_feeds", "shard_feeds"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[FeedOutcome], None]


class InternalFeedError(FeedError):
    """A bug met while handling one feed; recorded against that feed like any other failure."""

    kind = "internal_error"


def shard_feeds(feeds: Sequence[FeedSettings], shard: int, shards: int) -> list[FeedSettings]:
    """Feeds whose URL hash falls in this shard, so several workers can split one list."""
    if shards < 1 or not 0 <= shard < shards:
        raise ValueError(f"shard must be in [0, {shards}), got {shard}")
    if shards == 1:
        return list(feeds)
    return [
        f
        for f in feeds
        if int.from_bytes(hashlib.sha256(f.url.encode()).digest()[:8], "big") % shards == shard
    ]


async def _fetch_and_parse(
    fetcher: Fetcher,
    url: str,
    state: FeedState,
    settings: Settings,
    parse_pool: ThreadPoolExecutor,
) -> tuple[FeedOutcome, FeedState]:
    started = time.perf_counter()
    now = datetime.now(UTC)
    loop = asyncio.get_running_loop()
    result = None
    try:
        result = await fetcher.fetch(url, state)
        if result.not_modified:
            outcome = FeedOutcome(url=url, status="not_modified", fetch=result)
        else:
            parsed = await loop.run_in_executor(parse_pool, parse_feed, result)
            outcome = FeedOutcome(url=url, status="ok", fetch=result, feed=parsed)
        new_state = state_after_fetch(state, result, now)
    except FeedError as exc:
        outcome = FeedOutcome(url=url, status="failed", fetch=result, error=exc)
        new_state = state_after_error(state, exc, now, settings.fetch)
    except Exception as exc:  # a bug must cost one feed, not the run
        log.exception("unexpected error while handling feed %s", url)
        err = InternalFeedError(url, f"unexpected {type(exc).__name__}: {exc}")
        outcome = FeedOutcome(url=url, status="failed", fetch=result, error=err)
        new_state = state_after_error(state, err, now, settings.fetch)
    return replace(outcome, elapsed_seconds=time.perf_counter() - started), new_state


def _writer(settings: Settings):
    return open_db(settings.storage.database, busy_timeout=settings.storage.busy_timeout_seconds)


def _save_all(
    settings: Settings,
    run_id: str,
    batch: list[tuple[FeedOutcome, FeedState]],
) -> list[FeedOutcome]:
    with _writer(settings) as conn:
        counts = save_outcomes(conn, run_id=run_id, batch=batch, now=datetime.now(UTC))
    # once stored, bodies and parsed items are dropped: a cycle's memory stays bounded by
    # the feeds in flight, not by every feed of the run
    return [
        replace(outcome, new_items=n, fetch=None, feed=None)
        for (outcome, _), n in zip(batch, counts, strict=True)
    ]


async def ingest_feeds(
    settings: Settings,
    *,
    run_id: str,
    feeds: Sequence[FeedSettings] | None = None,
    progress: ProgressCallback | None = None,
) -> list[FeedOutcome]:
    """Fetch, parse and store every configured feed that is due; return one outcome per feed."""
    feeds = list(settings.feeds if feeds is None else feeds)
    urls = [f.url for f in feeds]
    with _writer(settings) as conn:
        sync_feeds(conn, feeds)
        states = load_feed_states(conn, urls)

    now = datetime.now(UTC)
    queue: asyncio.Queue[tuple[FeedOutcome, FeedState] | None] = asyncio.Queue()
    outcomes: list[FeedOutcome] = []

    async def writer() -> None:
        done = False
        while not done:
            first = await queue.get()
            batch = [] if first is None else [first]
            done = first is None
            while not queue.empty():
                nxt = queue.get_nowait()
                if nxt is None:
                    done = True
                else:
                    batch.append(nxt)
            if batch:
                saved = await asyncio.to_thread(_save_all, settings, run_id, batch)
                outcomes.extend(saved)
                if progress is not None:
                    for outcome in saved:
                        progress(outcome)

    writer_task = asyncio.create_task(writer())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse") as parse_pool:
        async with Fetcher(settings.fetch) as fetcher:

            async def one(url: str) -> None:
                state = states.get(url) or FeedState(url=url)
                if not is_due(state, now):
                    await queue.put((FeedOutcome(url=url, status="skipped"), state))
                    return
                await queue.put(await _fetch_and_parse(fetcher, url, state, settings, parse_pool))

            try:
                await asyncio.gather(*(one(u) for u in urls))
            finally:
                await queue.put(None)
                await writer_task
    return outcomes
