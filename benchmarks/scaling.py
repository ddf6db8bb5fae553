"""Single-machine ceiling: how many feeds per cycle and items per second one silkwatch process
handles, so docs/scaling.md can say when to shard, distribute or move storage.

What runs (all real code, no shortcuts):

1. Ingest: N feeds (real news feeds from ../shared/feeds-corpus/news-snapshots, each served
   under several distinct URLs from a loopback static server in its own process) go
   through the real ``monitor`` flow with classification and alerts off, into a fresh DuckDB.
   A cold cycle (everything new) and a warm cycle (server answers 304) per N.
2. Classification: the real classifier on K stored items (model load timed separately), and
   the DuckDB write of their scores.
3. Warehouse: file size per item and the time of a digest-style query on the biggest file.
4. Start-up: what a fresh process (each served run) pays before working.
5. Sharding: the largest cold ingest again as 1 and as ``--shards`` parallel
   ``silkwatch run --shard i`` processes on one DuckDB file.

Per-host politeness is lifted (all feeds share one loopback host) and fetch concurrency is
the default 16. "news-snapshots" has 79 files, of which the 74 that are not broken are used
(N/74 copies each). Results go to benchmarks/results/scaling.json and a Markdown table.

Usage: .venv/bin/python benchmarks/scaling.py [--feeds 50,200,800] [--classify-items 2000]
       [--shards 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "feeds-corpus"
RESULTS = ROOT / "benchmarks" / "results"

csv.field_size_limit(sys.maxsize)


def news_feeds() -> list[Path]:
    """The corpus's news snapshots that are feeds (not the 'broken' ones), from MANIFEST.tsv."""
    with (CORPUS / "MANIFEST.tsv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [
        CORPUS / r["path"]
        for r in rows
        if r["path"].startswith("news-snapshots/") and r["kind"] != "broken"
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_dir(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Static server in another process; it sends Last-Modified and answers 304 itself."""
    port = free_port()
    # http.server's own CLI listens with a backlog of 5, which turns 16 concurrent connects
    # into SYN retries a second apart; LoopbackHTTPServer takes the burst.
    code = (
        "import functools, sys\n"
        "from http.server import SimpleHTTPRequestHandler\n"
        "from silkwatch.demo.server import LoopbackHTTPServer\n"
        "handler = functools.partial(SimpleHTTPRequestHandler, directory=sys.argv[2])\n"
        "LoopbackHTTPServer(('127.0.0.1', int(sys.argv[1])), handler).serve_forever()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(port), str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import httpx

    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def layout(folder: Path, sources: list[Path], n: int) -> list[str]:
    """``n`` distinct feed paths: f0000/<name>, f0001/<name>, ... cycling through the sources."""
    paths = []
    for i in range(n):
        src = sources[i % len(sources)]
        sub = folder / f"f{i:05d}"
        sub.mkdir(exist_ok=True)
        link = sub / src.name
        if not link.exists():
            link.symlink_to(src)
        paths.append(f"f{i:05d}/{src.name}")
    return paths


def write_config(path: Path, base: str, feed_paths: list[str]) -> Path:
    lines = [
        "[storage]",
        'database = "scaling.duckdb"',
        "",
        "[fetch]",
        "concurrency = 16",
        "per_host_concurrency = 16",
        "",
    ]
    for p in feed_paths:
        lines += ["[[feeds]]", f'url = "{base}/{p}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_ingest(n: int, sources: list[Path], work: Path, base_dir: Path, base: str) -> dict:
    from flows.monitor import monitor
    from silkwatch.config import load_settings

    folder = work / f"n{n}"
    folder.mkdir()
    config = write_config(folder / "silkwatch.toml", base, layout(base_dir, sources, n))
    settings = load_settings(config, environ={})
    t = time.perf_counter()
    cold = monitor(settings=settings, classify=False, alert=False)
    cold_s = time.perf_counter() - t
    t = time.perf_counter()
    warm = monitor(settings=settings, classify=False, alert=False)
    warm_s = time.perf_counter() - t
    db = settings.storage.database
    return {
        "feeds": n,
        "cold_seconds": round(cold_s, 2),
        "cold_feeds_ok": cold.feeds_ok,
        "cold_feeds_failed": cold.feeds_failed,
        "new_items": cold.new_items,
        "items_per_second": round(cold.new_items / cold_s, 1),
        "feeds_per_second": round(n / cold_s, 1),
        "warm_seconds": round(warm_s, 2),
        "warm_not_modified": warm.feeds_not_modified,
        "db_bytes": db.stat().st_size,
        "db_bytes_per_item": round(db.stat().st_size / max(cold.new_items, 1)),
        "peak_rss_mb": round(peak_rss_mb()),
        "database": str(db),
    }


def bench_classify(db: Path, k: int) -> dict:
    """Model load, scoring throughput and score writes for k stored items."""
    from classifiers.classifier import get_classifier
    from classifiers.model import model_name
    from classifiers.text import TextItem
    from silkwatch.config import load_settings
    from warehouse.db import open_db
    from warehouse.scores import item_ids, item_texts, save_scores

    settings = load_settings(None, environ={})
    with open_db(db, read_only=True) as conn:
        ids = item_ids(conn)[:k]
        rows = item_texts(conn, ids)
    t = time.perf_counter()
    classifier = get_classifier(settings)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    results = classifier.score([TextItem(*r) for r in rows])
    score_s = time.perf_counter() - t
    scores = [s for r in results for s in r.scores]
    t = time.perf_counter()
    with open_db(db) as conn:
        save_scores(
            conn,
            scores,
            model=model_name(settings.classifier.model),
            themes_version=settings.themes_version(),
            scored_at=datetime.now(UTC),
        )
    save_s = time.perf_counter() - t
    return {
        "items": len(rows),
        "model_load_seconds": round(load_s, 2),
        "score_seconds": round(score_s, 2),
        "items_per_second": round(len(rows) / score_s, 1),
        "save_seconds": round(save_s, 2),
        "score_rows_per_second": round(len(scores) / save_s),
        "threads": int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count(),
    }


def bench_query(db: Path) -> dict:
    from warehouse.query import run_query

    sql = (
        "SELECT t.theme, i.title, t.score FROM item_themes t JOIN items i USING (item_id) "
        "WHERE i.fetched_at > now() - INTERVAL 1 DAY ORDER BY t.score DESC LIMIT 20"
    )
    run_query(db, sql)
    t = time.perf_counter()
    for _ in range(5):
        run_query(db, sql)
    count = run_query(db, "SELECT count(*) FROM items").rows[0][0]
    return {"items": count, "digest_query_ms": round((time.perf_counter() - t) / 5 * 1000, 1)}


_STARTUP_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import flows.monitor  # what a served run imports before its flow body starts
t1 = time.perf_counter()
from classifiers.classifier import get_classifier
from silkwatch.config import load_settings
get_classifier(load_settings(None, environ={}))  # torch + transformers + model + theme index
t2 = time.perf_counter()
print(json.dumps({"import_flows": t1 - t0, "load_classifier": t2 - t1}))
"""


def bench_startup(repeat: int = 3) -> dict:
    """What each served run pays before it works: a new interpreter imports the flow module,
    then the first classification loads torch, transformers, the model and the theme index.
    Measured in fresh processes (``python -c``), median of ``repeat``."""
    import statistics

    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _STARTUP_PROBE],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        row["process"] = time.perf_counter() - t
        runs.append(row)
    return {
        key: round(statistics.median(r[key] for r in runs), 2)
        for key in ("import_flows", "load_classifier", "process")
    }


def _error_tail(stderr: str, keep: int = 1500) -> str:
    """The end of a failed run's stderr without the leak report some native modules print at
    exit, which otherwise fills the tail and hides the actual error."""
    lines = [
        line
        for line in stderr.splitlines()
        if not line.startswith(("nanobind:", " - leaked", "See https://nanobind"))
    ]
    return "\n".join(lines)[-keep:]


def bench_shards(
    n: int, shards: int, sources: list[Path], work: Path, base_dir: Path, base: str
) -> dict:
    """The same cold ingest as ``silkwatch run`` processes: 1 process, then ``shards`` at once.

    Each process pays its own Python and Prefect start-up (included: that is what a shard
    costs), and all of them write to one DuckDB file, taking turns on its lock.
    """
    results = {}
    for k in (1, shards):
        folder = work / f"shards{k}"
        folder.mkdir()
        config = write_config(folder / "silkwatch.toml", base, layout(base_dir, sources, n))
        t = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "silkwatch",
                    "run",
                    "--config",
                    str(config),
                    "--shard",
                    str(i),
                    "--shards",
                    str(k),
                    "--no-classify",
                    "--no-alerts",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for i in range(k)
        ]
        errors = [_error_tail(p.communicate()[1].decode()) for p in procs if p.wait() != 0]
        wall = time.perf_counter() - t
        import duckdb

        with duckdb.connect(str(folder / "scaling.duckdb"), read_only=True) as db:
            items = db.execute("SELECT count(*) FROM items").fetchone()[0]
        results[f"processes_{k}"] = {"seconds": round(wall, 2), "items": items, "errors": errors}
    return {"feeds": n, **results}


def markdown(report: dict) -> str:
    out = [
        "| feeds | cold cycle | new items | items/s | feeds/s | warm (304) cycle | DB bytes/item "
        "| peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["ingest"]:
        out.append(
            f"| {r['feeds']} | {r['cold_seconds']} s | {r['new_items']} | "
            f"{r['items_per_second']} | {r['feeds_per_second']} | {r['warm_seconds']} s | "
            f"{r['db_bytes_per_item']} | {r['peak_rss_mb']} MB |"
        )
    c, q = report["classify"], report["query"]
    out += [
        "",
        f"Classification: model load {c['model_load_seconds']} s; {c['items']} items scored in "
        f"{c['score_seconds']} s = **{c['items_per_second']} items/s** ({c['threads']} threads); "
        f"scores written at {c['score_rows_per_second']} rows/s.",
        f"Digest-style query over {q['items']} items: {q['digest_query_ms']} ms.",
    ]
    if "shards" in report:
        sh = report["shards"]
        one, many = sh["processes_1"], sh[[k for k in sh if k.startswith("processes_")][-1]]
        out.append(
            f"Sharded cold ingest of {sh['feeds']} feeds as `silkwatch run` processes on one "
            f"DuckDB file: 1 process {one['seconds']} s, "
            f"{[k for k in sh if k.startswith('processes_')][-1].split('_')[1]} processes "
            f"{many['seconds']} s ({many['items']} items, same as {one['items']})."
        )
    if "startup" in report:
        st = report["startup"]
        out.append(
            f"Per served run, before any work: import flows {st['import_flows']} s, load the "
            f"classifier {st['load_classifier']} s (fresh process total {st['process']} s)."
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", default="50,200,800", help="comma-separated feed counts")
    ap.add_argument("--classify-items", type=int, default=2000)
    ap.add_argument("--shards", type=int, default=2, help="parallel shard processes (0: skip)")
    args = ap.parse_args()

    from silkwatch.cli.common import prepare_prefect_env

    prepare_prefect_env()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from prefect import flow
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    sources = news_feeds()
    counts = [int(x) for x in args.feeds.split(",")]
    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_at_start": os.getloadavg(),
        },
        "source_feeds": len(sources),
        "started": datetime.now(UTC).isoformat(),
        "ingest": [],
    }
    with (
        tempfile.TemporaryDirectory(prefix="silkwatch-scaling-") as tmp,
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        work, served = Path(tmp) / "work", Path(tmp) / "served"
        work.mkdir()
        served.mkdir()
        server, base = serve_dir(served)
        try:

            @flow
            def warm_up() -> None:
                """Start Prefect's temporary server before anything is timed."""

            t = time.perf_counter()
            warm_up()
            report["prefect_start_seconds"] = round(time.perf_counter() - t, 2)
            for n in counts:
                row = bench_ingest(n, sources, work, served, base)
                report["ingest"].append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "database"}), flush=True)
            biggest = Path(report["ingest"][-1]["database"])
            report["classify"] = bench_classify(biggest, args.classify_items)
            print(json.dumps(report["classify"]), flush=True)
            report["query"] = bench_query(biggest)
            report["startup"] = bench_startup()
            print(json.dumps(report["startup"]), flush=True)
            if args.shards > 1:
                report["shards"] = bench_shards(
                    counts[-1], args.shards, sources, work, served, base
                )
                print(json.dumps(report["shards"]), flush=True)
        finally:
            server.terminate()
            server.wait()
    report["load_avg_at_end"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scaling.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(markdown(report))


if __name__ == "__main__":
    main()
