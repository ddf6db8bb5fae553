"""Pure politeness decisions, tested with plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from feeds.decide import (
    MAX_FRESHNESS,
    backoff_delay,
    freshness_lifetime,
    is_due,
    parse_retry_after,
    state_after_error,
    state_after_fetch,
    state_after_parse_error,
)
from silkwatch.config import FetchSettings
from silkwatch.errors import FetchError, ParseError, RateLimitedError
from silkwatch.types import FeedState, FetchResult

URL = "http://feeds.example.test/feed.xml"
NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
SETTINGS = FetchSettings(backoff_base_minutes=5, backoff_max_hours=2)


def result(status: int = 200, **headers: str) -> FetchResult:
    return FetchResult(url=URL, final_url=URL, status=status, body=b"", headers=headers)


def failing(count: int) -> FeedState:
    return FeedState(
        URL,
        etag='"e"',
        last_modified="lm",
        error_count=count,
        last_status="fetch_error",
        last_error="boom",
        first_error_at=NOW - timedelta(days=1),
        next_fetch_at=NOW - timedelta(minutes=1),
    )


def test_is_due() -> None:
    assert is_due(FeedState(URL), NOW)
    assert is_due(FeedState(URL, next_fetch_at=NOW), NOW)
    assert not is_due(FeedState(URL, next_fetch_at=NOW + timedelta(seconds=1)), NOW)


def test_200_replaces_validators_and_clears_errors() -> None:
    new = state_after_fetch(failing(3), result(200, etag='"new"', **{"last-modified": "x"}), NOW)
    assert (new.etag, new.last_modified) == ('"new"', "x")
    assert new.error_count == 0
    assert new.last_error is None and new.first_error_at is None
    assert new.last_status == "ok"
    assert new.next_fetch_at is None


def test_200_without_validators_forgets_old_ones() -> None:
    new = state_after_fetch(failing(1), result(200), NOW)
    assert new.etag is None and new.last_modified is None


def test_304_keeps_validators_unless_resent() -> None:
    kept = state_after_fetch(failing(2), result(304), NOW)
    assert (kept.etag, kept.last_modified) == ('"e"', "lm")
    assert kept.last_status == "not_modified"
    assert kept.error_count == 0
    updated = state_after_fetch(failing(0), result(304, etag='"e2"'), NOW)
    assert (updated.etag, updated.last_modified) == ('"e2"', "lm")


def test_max_age_sets_next_fetch_capped() -> None:
    short = state_after_fetch(FeedState(URL), result(200, **{"cache-control": "max-age=600"}), NOW)
    assert short.next_fetch_at == NOW + timedelta(minutes=10)
    long = state_after_fetch(FeedState(URL), result(200, **{"Cache-Control": "max-age=86400"}), NOW)
    assert long.next_fetch_at == NOW + MAX_FRESHNESS


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("no-cache, max-age=60", None),
        ("public, max-age=0", None),
        ('max-age="120"', timedelta(seconds=120)),
        ("s-maxage=5", None),
    ],
)
def test_freshness_lifetime(header: str | None, expected: timedelta | None) -> None:
    assert freshness_lifetime(header) == expected


def test_first_transient_error_retries_next_cycle() -> None:
    error = FetchError(URL, "boom", transient=True)
    new = state_after_error(FeedState(URL, etag='"e"'), error, NOW, SETTINGS)
    assert new.error_count == 1
    assert new.next_fetch_at is None
    assert new.first_error_at == NOW
    assert new.last_status == "fetch_error"
    assert new.last_error == f"{URL}: boom"
    assert new.etag == '"e"'


def test_backoff_doubles_and_is_capped() -> None:
    delays = [backoff_delay(n, SETTINGS) for n in range(1, 8)]
    assert delays == [None] + [timedelta(minutes=m) for m in (5, 10, 20, 40, 80, 120)]
    new = state_after_error(failing(2), FetchError(URL, "503", transient=True), NOW, SETTINGS)
    assert new.error_count == 3
    assert new.next_fetch_at == NOW + timedelta(minutes=10)
    new = state_after_error(failing(2), ParseError(URL, "bad"), NOW, SETTINGS)
    assert new.first_error_at == NOW - timedelta(days=1)  # the streak's start is kept
    assert new.last_status == "parse_error"
    assert new.next_fetch_at == NOW + timedelta(minutes=20)  # permanent errors start earlier
    assert backoff_delay(10_000, SETTINGS) == timedelta(hours=2)


def test_a_permanent_first_error_waits_before_the_next_try() -> None:
    """A feed we cannot parse is not downloaded again every cycle to fail the same way."""
    new = state_after_error(FeedState(URL), ParseError(URL, "not a feed"), NOW, SETTINGS)
    assert new.next_fetch_at == NOW + timedelta(minutes=5)
    not_found = FetchError(URL, "HTTP 404", transient=False, status_code=404)
    assert state_after_error(FeedState(URL), not_found, NOW, SETTINGS).next_fetch_at == (
        NOW + timedelta(minutes=5)
    )


def test_parse_error_alias() -> None:
    assert state_after_parse_error is state_after_error


def test_rate_limit_uses_retry_at_capped() -> None:
    soon = RateLimitedError(URL, "429", retry_at=NOW + timedelta(minutes=30), status_code=429)
    assert state_after_error(FeedState(URL), soon, NOW, SETTINGS).next_fetch_at == soon.retry_at
    far = RateLimitedError(URL, "429", retry_at=NOW + timedelta(days=400), status_code=429)
    new = state_after_error(FeedState(URL), far, NOW, SETTINGS)
    assert new.next_fetch_at == NOW + timedelta(hours=2)
    assert new.last_status == "rate_limited"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        (" 0 ", NOW),
        ("Tue, 03 Mar 2026 14:00:00 GMT", datetime(2026, 3, 3, 14, 0, tzinfo=UTC)),
        ("Tue, 03 Mar 2026 09:00:00 GMT", NOW),  # in the past: now
        ("Tue, 03 Mar 2026 15:00:00 +0100", datetime(2026, 3, 3, 14, 0, tzinfo=UTC)),
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: datetime | None) -> None:
    assert parse_retry_after(value, NOW) == expected
