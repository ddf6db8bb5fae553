"""Ingest overhead: a cold and a warm (all-304) cycle over the 66 bench feeds vs plain feedparser.

All in one process: plain ``feedparser.parse(bytes)`` over the same bytes is the peer.
The feeds are served from a loopback server in a child process; the cycle runs the real
``monitor`` flow (classification and alerts off) into a fresh DuckDB. Prefect's temporary server is
started before timing, with a no-op flow, and reported separately.

Usage: .venv/bin/python benchmarks/ingest_speed.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_server import CORPUS, CorpusServerProcess, manifest


def bench_files():
    wanted = [
        line.strip()
        for line in (CORPUS / "bench-news.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    by_path = {f.path: f for f in manifest()}
    return [by_path[p] for p in wanted]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="cold/warm pairs to run")
    args = ap.parse_args()

    from silkwatch.cli.common import prepare_prefect_env

    prepare_prefect_env()
    from prefect import flow
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.ingest import ingest_feeds
    from flows.monitor import monitor
    from silkwatch.config import FeedSettings, load_settings

    files = bench_files()
    bodies = [(CORPUS / f.path).read_bytes() for f in files]
    total_bytes = sum(map(len, bodies))

    plain = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        entries = sum(len(feedparser.parse(b).entries) for b in bodies)
        plain.append(time.perf_counter() - t)

    @flow(name="warm-up")
    def warm_up() -> None:
        return None

    cold, warm, warm_bare, warm_cpu, new_items = [], [], [], [], []
    with (
        CorpusServerProcess(files) as server,
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        t = time.perf_counter()
        warm_up()
        prefect_start = time.perf_counter() - t
        base = load_settings(None, environ={})
        for _ in range(args.repeat):
            workdir = Path(tempfile.mkdtemp(prefix="silkwatch-speed-"))
            settings = base.model_copy(
                update={
                    "feeds": tuple(FeedSettings(url=server.url(f)) for f in files),
                    "storage": base.storage.model_copy(
                        update={"database": workdir / "bench.duckdb"}
                    ),
                    "fetch": base.fetch.model_copy(update={"per_host_concurrency": 16}),
                }
            )
            t = time.perf_counter()
            s1 = monitor(settings=settings, classify=False, alert=False)
            cold.append(time.perf_counter() - t)
            t, cpu = time.perf_counter(), time.process_time()
            s2 = monitor(settings=settings, classify=False, alert=False)
            warm.append(time.perf_counter() - t)
            warm_cpu.append(time.process_time() - cpu)
            t = time.perf_counter()  # the same warm work without Prefect around it
            asyncio.run(ingest_feeds(settings, run_id=f"bare-{len(warm)}"))
            warm_bare.append(time.perf_counter() - t)
            new_items.append((s1.new_items, s1.feeds_ok, s2.feeds_not_modified, s2.new_items))

    p, c, w = statistics.median(plain), statistics.median(cold), statistics.median(warm)
    print(f"feeds: {len(files)}, bytes: {total_bytes:,}, feedparser entries: {entries}")
    print(f"plain feedparser.parse (median of {args.repeat}): {p:.2f} s  runs={plain}")
    print(f"prefect temporary server start (once): {prefect_start:.1f} s")
    print(f"cold cycle, monitor flow (median): {c:.2f} s  runs={[round(x, 2) for x in cold]}")
    print(f"warm all-304 cycle (median): {w:.2f} s  runs={[round(x, 2) for x in warm]}")
    print(
        f"warm all-304 cycle, CPU time of this process (median): "
        f"{statistics.median(warm_cpu):.2f} s (the rest is waiting on the servers)"
    )
    print(f"warm all-304 ingest without Prefect (median): {statistics.median(warm_bare):.2f} s")
    print(f"(new items, feeds ok) cold / (304s, new items) warm: {new_items}")
    print(f"ratio cold cycle / plain feedparser: {c / p:.2f}  (goal <= 1.5)")


if __name__ == "__main__":
    main()
