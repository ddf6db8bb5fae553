"""``silkwatch serve --in-process``: the same schedule, run inside one long-lived process.

Prefect's runner starts every flow run in a new Python process, which then imports torch
and transformers and loads the model and the theme index before it can score anything
(measured in docs/operations.md: tens of seconds on a busy 2-core machine). At a 15-minute
cadence that is a small tax; at one to five minutes it is most of the work. This loop calls
the same ``monitor`` and ``digest`` flows in-process instead, so the classifier loaded by the
first cycle is reused by every later one. Flow runs are still recorded by the Prefect API;
what is lost is the deployments (the schedule lives here, not on the server).

Runs are sequential, so they never overlap; a run that raises is logged and the schedule
goes on; a missed slot (a run that took longer than the interval) is skipped, not queued.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from silkwatch.config import ScheduleSettings, load_settings

__all__ = ["next_digest_at", "next_slot", "run_loop"]

log = logging.getLogger("silkwatch.serve")


def next_digest_at(now: datetime, schedule: ScheduleSettings) -> datetime:
    """The first ``digest_at`` wall-clock time in ``schedule.timezone`` strictly after ``now``.

    Wall-clock arithmetic, so 07:00 stays 07:00 across daylight-saving changes.
    """
    zone: tzinfo = ZoneInfo(schedule.timezone)
    hour, minute = schedule.digest_time.hour, schedule.digest_time.minute
    local = now.astimezone(zone)
    candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if candidate <= local:
        tomorrow = (local.replace(tzinfo=None) + timedelta(days=1)).replace(
            hour=hour, minute=minute, second=0, microsecond=0
        )
        candidate = tomorrow.replace(tzinfo=zone)
    return candidate.astimezone(UTC)


def next_slot(previous: datetime, now: datetime, every: timedelta) -> datetime:
    """The next slot of an interval schedule after ``now``; slots missed while busy are skipped."""
    slot = previous + every
    if slot <= now:
        slot += every * ((now - slot) // every + 1)
    return slot


def run_loop(config_path: str | None, *, stop: threading.Event | None = None) -> int:
    """Run monitor now and every N minutes, and the digest daily, until ``stop`` is set.

    Returns the number of monitoring cycles started. SIGTERM between runs sets ``stop``;
    during a run Prefect turns it into a crash of that run, which ends the loop too.
    """
    from flows.digest import digest
    from flows.monitor import monitor

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    schedule = load_settings(config_path).schedule
    every = timedelta(minutes=schedule.monitor_every_minutes)
    start = _now()
    next_monitor, next_digest = start, next_digest_at(start, schedule)
    cycles = 0
    while not stop.is_set():
        now = _now()
        if now >= next_digest:
            _guarded("digest", lambda: digest(config_path=config_path))
            next_digest = next_digest_at(_now(), schedule)
        elif now >= next_monitor:
            cycles += 1
            _guarded("monitor", lambda: monitor(config_path=config_path))
            next_monitor = next_slot(next_monitor, _now(), every)
        else:
            wait = (min(next_monitor, next_digest) - now).total_seconds()
            stop.wait(max(0.0, min(wait, 5.0)))
    return cycles


def _now() -> datetime:
    return datetime.now(UTC)


def _guarded(name: str, run: Callable[[], object]) -> None:
    """A failed run is logged (Prefect has recorded it as failed); the schedule continues."""
    try:
        run()
    except Exception:
        log.exception("%s run failed; the schedule continues", name)
