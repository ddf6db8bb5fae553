"""A writer the crash test kills with SIGKILL: saves many feeds, printing progress.

Usage: python crash_writer.py DB_PATH FEEDS BATCH
Prints ``ready`` once the database is open and migrated, ``saved N`` after each commit
(N = feeds committed so far) and ``done`` after closing. BATCH 1 uses ``save_outcome``;
larger batches use ``save_outcomes``. Every run saves the same outcomes, so a rerun must
change nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from warehouse_samples import T0, item, ok_outcome

from silkwatch.config import FeedSettings
from silkwatch.types import FeedState
from warehouse.db import open_db
from warehouse.feed_store import save_outcome, save_outcomes, sync_feeds

ITEMS_PER_FEED = 40


def feed_url(n: int) -> str:
    return f"https://feed{n}.example/rss"


def etag(n: int) -> str:
    return f'"v1-{n}"'


def outcome_and_state(n: int):
    url = feed_url(n)
    items = [
        item(url, f"g{k}", summary=f"{url} entry {k} " + "lorem ipsum " * 150)
        for k in range(ITEMS_PER_FEED)
    ]
    return ok_outcome(url, items), FeedState(url=url, etag=etag(n), last_status="ok")


def main(db_path: str, feeds: int, batch: int) -> None:
    pairs = [outcome_and_state(n) for n in range(feeds)]
    with open_db(Path(db_path)) as conn:
        print("ready", flush=True)
        sync_feeds(conn, [FeedSettings(url=feed_url(n)) for n in range(feeds)])
        for start in range(0, feeds, batch):
            chunk = pairs[start : start + batch]
            if batch == 1:
                outcome, state = chunk[0]
                save_outcome(conn, run_id="crash", outcome=outcome, state=state, now=T0)
            else:
                save_outcomes(conn, run_id="crash", batch=chunk, now=T0)
            print(f"saved {start + len(chunk)}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
