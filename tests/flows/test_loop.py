"""The in-process schedule's arithmetic, with plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.loop import next_digest_at, next_slot
from silkwatch.config import ScheduleSettings


def test_digest_time_is_local_wall_clock_and_strictly_in_the_future():
    almaty = ScheduleSettings(digest_at="07:00", timezone="Asia/Almaty")  # UTC+5
    assert next_digest_at(datetime(2026, 3, 1, 1, 0, tzinfo=UTC), almaty) == datetime(
        2026, 3, 1, 2, 0, tzinfo=UTC
    )
    # exactly at 07:00 local the next one is tomorrow's
    assert next_digest_at(datetime(2026, 3, 1, 2, 0, tzinfo=UTC), almaty) == datetime(
        2026, 3, 2, 2, 0, tzinfo=UTC
    )


def test_digest_time_keeps_seven_am_across_daylight_saving():
    berlin = ScheduleSettings(digest_at="07:00", timezone="Europe/Berlin")
    # Saturday 28 March 2026, 08:00 local (UTC+1): the next 07:00 is Sunday, after the
    # switch to summer time (UTC+2), so 05:00 UTC rather than 06:00.
    assert next_digest_at(datetime(2026, 3, 28, 7, 0, tzinfo=UTC), berlin) == datetime(
        2026, 3, 29, 5, 0, tzinfo=UTC
    )


def test_interval_slots_skip_what_a_long_run_missed():
    every = timedelta(minutes=15)
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert next_slot(t0, t0 + timedelta(minutes=3), every) == t0 + every
    # a run that took 40 minutes: the 12:15 and 12:30 slots are gone, 12:45 is next
    assert next_slot(t0, t0 + timedelta(minutes=40), every) == t0 + 3 * every
    assert next_slot(t0, t0 + every, every) == t0 + 2 * every
