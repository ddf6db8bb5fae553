"""kill -9 at any point of a save leaves each feed's items, validators and log all or none.

A real writer process (``crash_writer.py``) saves many feeds; we SIGKILL it after a random
number of commits plus a random few milliseconds (so some kills land inside a transaction
or the final checkpoint), reopen the file, and check every feed. Then the same saves run
again to completion and every item must be stored exactly once.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import crash_writer
import duckdb
import pytest

from warehouse.db import open_db

FEEDS = 40
WRITER = Path(crash_writer.__file__)


def _start(db: Path, batch: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(db), str(FEEDS), str(batch)],
        stdout=subprocess.PIPE,
        text=True,
    )


def _kill_after(proc: subprocess.Popen[str], commits: int, rng: random.Random) -> list[str]:
    """Read progress until ``commits`` feeds are saved (or the writer ends), then SIGKILL
    after a random fraction of the writer's own time per commit, so the kill lands
    anywhere in the next save: building it, inside its transaction, or committing."""
    assert proc.stdout is not None
    lines: list[str] = []
    stamps: list[float] = []
    for line in proc.stdout:
        lines.append(line.strip())
        stamps.append(time.monotonic())
        if line.startswith("done") or (
            line.startswith("saved") and int(line.split()[1]) >= commits
        ):
            break
    per_commit = (stamps[-1] - stamps[0]) / max(len(stamps) - 1, 1)
    time.sleep(rng.uniform(0, per_commit))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return lines


def _check_all_or_nothing(db: Path) -> int:
    """Every feed: the new ETag is stored iff all its items and its log row are. Returns
    how many feeds are fully saved."""
    with open_db(db) as conn:  # write mode: recovery and migrations run as in a real cycle
        rows = conn.execute(
            """
            SELECT f.url, f.etag,
                   (SELECT count(*) FROM items i WHERE i.feed_url = f.url),
                   (SELECT count(*) FROM fetch_log l WHERE l.feed_url = f.url)
            FROM feeds f
            """
        ).fetchall()
        orphans = conn.execute(
            "SELECT count(*) FROM items WHERE feed_url NOT IN (SELECT url FROM feeds)"
        ).fetchone()
    assert orphans == (0,)
    saved = 0
    for url, etag, n_items, n_logs in rows:
        n = int(url.removeprefix("https://feed").split(".")[0])
        if etag is None:
            assert (n_items, n_logs) == (0, 0), f"{url}: items or log without validators"
        else:
            assert etag == crash_writer.etag(n)
            assert n_items == crash_writer.ITEMS_PER_FEED, f"{url}: validators without items"
            assert n_logs >= 1, f"{url}: validators without a fetch_log row"
            saved += 1
    return saved


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 7], ids=["save_outcome", "save_outcomes"])
def test_kill_9_leaves_each_feed_all_or_nothing(tmp_path: Path, batch: int):
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    db = tmp_path / "crash.duckdb"
    kill_points = [*sorted(rng.sample(range(1, FEEDS), 3)), FEEDS]  # FEEDS: during close
    for commits in kill_points:
        lines = _kill_after(_start(db, batch), commits, rng)
        assert lines and lines[0] == "ready", f"seed {seed}: writer said {lines}"
        saved = _check_all_or_nothing(db)
        last = int(lines[-1].split()[1]) if lines[-1].startswith("saved") else FEEDS
        # every commit the writer reported survived the kill
        assert saved >= last, f"seed {seed}: {saved} feeds saved, writer reported {last}"

    finished = _start(db, batch)
    out, _ = finished.communicate(timeout=120)
    assert finished.returncode == 0 and out.strip().endswith("done")
    assert _check_all_or_nothing(db) == FEEDS

    with duckdb.connect(str(db), read_only=True) as conn:
        total, distinct, keys = conn.execute(
            "SELECT count(*), count(DISTINCT item_id), count(DISTINCT (feed_url, guid)) FROM items"
        ).fetchone()
    expected = FEEDS * crash_writer.ITEMS_PER_FEED
    assert (total, distinct, keys) == (expected, expected, expected), f"seed {seed}"
