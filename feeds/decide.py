"""Politeness decisions as pure functions of (old state, what happened, now, settings).

No I/O and no clock: the caller passes ``now``, so every rule is tested with plain values
(the shape of lemon24/reader's ``Decider``). The flow stores what these return.

Backoff rule: the first failure is retried on the next cycle (``next_fetch_at = None``),
because one timeout or one 502 is usually a blip and a news monitor should not go quiet
for it. From the second failure in a row the feed waits
``backoff_base_minutes * 2 ** (n - 2)``, capped at ``backoff_max_hours``: 5, 10, 20 … min.
A Retry-After from the server replaces the backoff (capped the same way, so a hostile or
mistaken "come back next year" cannot silence a feed for longer than the backoff cap).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from silkwatch.config import FetchSettings
from silkwatch.errors import FeedError, RateLimitedError
from silkwatch.types import FeedState, FetchResult

__all__ = [
    "backoff_delay",
    "freshness_lifetime",
    "is_due",
    "parse_retry_after",
    "state_after_error",
    "state_after_fetch",
    "state_after_parse_error",
]

# A success with Cache-Control: max-age longer than this still gets checked again after
# this long: a CDN default of a day must not delay news by a day.
MAX_FRESHNESS = timedelta(hours=1)
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


def is_due(state: FeedState, now: datetime) -> bool:
    """Fetch now unless a backoff, Retry-After or max-age put ``next_fetch_at`` in the future."""
    return state.next_fetch_at is None or state.next_fetch_at <= now


def state_after_fetch(old: FeedState, result: FetchResult, now: datetime) -> FeedState:
    """State after a 200 or 304: validators kept or replaced, error streak cleared.

    A 200 replaces both validators with what the server sent *this time* (a server that
    stopped sending an ETag must not get the old one back). A 304 keeps the old ones,
    updated if the 304 carries new values, as RFC 9110 allows.
    ``next_fetch_at`` honours ``Cache-Control: max-age``, capped at ``MAX_FRESHNESS``.
    """
    headers = {k.lower(): v for k, v in result.headers.items()}
    etag = headers.get("etag") or None
    last_modified = headers.get("last-modified") or None
    if result.not_modified:
        etag = etag or old.etag
        last_modified = last_modified or old.last_modified
    lifetime = freshness_lifetime(headers.get("cache-control"))
    return FeedState(
        url=old.url,
        etag=etag,
        last_modified=last_modified,
        error_count=0,
        next_fetch_at=now + lifetime if lifetime else None,
        last_status="not_modified" if result.not_modified else "ok",
        last_error=None,
        first_error_at=None,
    )


def freshness_lifetime(cache_control: str | None) -> timedelta | None:
    """``max-age`` from a Cache-Control header, capped at ``MAX_FRESHNESS``; None if absent/0."""
    if not cache_control or "no-cache" in cache_control.lower():
        return None
    match = _MAX_AGE.search(cache_control)
    if not match:
        return None
    seconds = int(match.group(1))
    if seconds <= 0:
        return None
    return min(timedelta(seconds=seconds), MAX_FRESHNESS)


def state_after_error(
    old: FeedState, error: FeedError, now: datetime, settings: FetchSettings
) -> FeedState:
    """State after a failed fetch or parse: streak counted, next try pushed back.

    Validators are kept: the failure says nothing about whether our copy is current.
    """
    count = old.error_count + 1
    cap = timedelta(hours=settings.backoff_max_hours)
    if isinstance(error, RateLimitedError):
        next_fetch_at: datetime | None = min(max(error.retry_at, now), now + cap)
    else:
        delay = backoff_delay(count, settings, transient=error.transient)
        next_fetch_at = now + delay if delay else None
    return FeedState(
        url=old.url,
        etag=old.etag,
        last_modified=old.last_modified,
        error_count=count,
        next_fetch_at=next_fetch_at,
        last_status=error.kind,
        last_error=str(error),
        first_error_at=old.first_error_at or now,
    )


#: A parse error is handled like any other feed error; the name documents the call site.
state_after_parse_error = state_after_error


def backoff_delay(
    error_count: int, settings: FetchSettings, *, transient: bool = True
) -> timedelta | None:
    """Wait after ``error_count`` failures in a row.

    A first transient failure (timeout, reset, 5xx) retries on the next cycle (None): it
    is usually gone by then. A failure that will not go away by itself (a 404, a document
    we cannot parse) waits ``backoff_base_minutes`` at once, so a broken feed is not
    downloaded again every cycle just to fail the same way.
    """
    steps = error_count - 2 if transient else error_count - 1
    if steps < 0:
        return None
    minutes = settings.backoff_base_minutes * 2 ** min(steps, 30)
    return min(timedelta(minutes=minutes), timedelta(hours=settings.backoff_max_hours))


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """Retry-After (delay in seconds, or an HTTP-date) as an absolute UTC time, else None.

    A date in the past means "now"; an unparseable value gives None (no promise made).
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        try:
            return now + timedelta(seconds=int(value))
        except OverflowError:
            return now + timedelta(days=365)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when.astimezone(UTC), now)
