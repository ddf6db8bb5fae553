"""Ingest every file of ../shared/feeds-corpus through the real pipeline and check the outcome.

Serves the 5,933 files (list from MANIFEST.tsv) on a loopback server, runs two monitor
cycles (classification and alerts off: this is about ingest) into a fresh DuckDB, and
reports against plain ``feedparser.parse`` of the same bytes:

- crashes (a cycle that raises) and feeds without exactly one outcome;
- for how many feeds the stored item count equals the distinct entries feedparser finds;
- feeds that stored nothing without a recorded reason;
- second cycle: share of requests answered 304, new items stored;
- peak memory (max RSS of this process).

Usage: .venv/bin/python benchmarks/corpus.py [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import resource
import sys
import tempfile
import time
import zlib
from pathlib import Path

import duckdb
import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_server import CorpusFile, CorpusServer, manifest, response_headers, write_config


def _decoded(body: bytes, headers: dict[str, str]) -> bytes | None:
    enc = headers.get("content-encoding")
    try:
        if enc == "gzip":
            return gzip.decompress(body)
        if enc == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)
    except (OSError, zlib.error, EOFError):
        return None
    return body


def _json_feed_items(body: bytes) -> int | None:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        return None  # feedparser 6 reads no JSON at all: a JSON Feed is an object with items
    keys = set()
    for it in doc["items"]:
        if not isinstance(it, dict):
            continue
        key = it.get("id") or it.get("url") or json.dumps(it, sort_keys=True)
        keys.add(str(key))
    return len(keys)


def expected_items(f: CorpusFile, body: bytes) -> tuple[int, str]:
    """Distinct entries plain feedparser finds in the same (decoded) bytes and headers."""
    headers = response_headers(f)
    data = _decoded(body, headers)
    if data is None:
        return 0, "undecodable"
    if f.path.endswith(".json") or data.lstrip()[:1] == b"{":
        n = _json_feed_items(data)
        if n is not None:
            return n, "jsonfeed"
    try:
        parsed = feedparser.parse(data, response_headers=headers)
    except Exception as exc:  # feedparser raises on a few real files
        return 0, f"feedparser raised {type(exc).__name__}"
    keys = set()
    for e in parsed.entries:
        key = e.get("id") or e.get("link")
        if not key:
            blob = f"{e.get('title', '')}\n{e.get('summary', '')}\n{e.get('published', '')}"
            key = hashlib.sha256(blob.encode()).hexdigest()
        keys.add(key)
    return len(keys), "feedparser"


def run(limit: int | None, out: Path | None) -> dict[str, object]:
    from silkwatch.cli.common import prepare_prefect_env

    prepare_prefect_env()
    from flows.monitor import monitor
    from silkwatch.config import load_settings

    files = manifest()[:limit] if limit else manifest()
    workdir = Path(tempfile.mkdtemp(prefix="silkwatch-corpus-"))
    with CorpusServer(files) as server:
        urls = {server.url(f): f for f in files}
        # one loopback host stands in for thousands of real ones: allow more per host
        config = write_config(
            workdir / "corpus.toml",
            list(urls),
            workdir / "corpus.duckdb",
            per_host_concurrency=16,
            concurrency=32,
        )
        settings = load_settings(config, environ={})
        t0 = time.perf_counter()
        first = monitor(config_path=str(config), classify=False, alert=False)
        t1 = time.perf_counter()
        second = monitor(config_path=str(config), classify=False, alert=False)
        t2 = time.perf_counter()
        bodies = {u: server.body(f) for u, f in urls.items()}

    db = duckdb.connect(str(settings.storage.database), read_only=True)
    stored = dict(db.execute("SELECT feed_url, count(*) FROM items GROUP BY ALL").fetchall())
    log1 = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT feed_url, status, error, count(*) OVER (PARTITION BY feed_url) "
            "FROM fetch_log WHERE run_id = ?",
            parameters=[first.run_id],
        ).fetchall()
    }
    outcomes_per_feed = dict(
        db.execute(
            "SELECT feed_url, count(*) FROM fetch_log WHERE run_id = ? GROUP BY ALL",
            parameters=[first.run_id],
        ).fetchall()
    )
    statuses2 = dict(
        db.execute(
            "SELECT status, count(*) FROM fetch_log WHERE run_id = ? GROUP BY ALL",
            parameters=[second.run_id],
        ).fetchall()
    )
    matches, mismatches, silent_empty = 0, [], []
    for url, f in urls.items():
        want, how = expected_items(f, bodies[url])
        got = stored.get(url, 0)
        if got == want:
            matches += 1
        else:
            mismatches.append((f.path, f.kind, got, want, how, (log1.get(url) or ("?", ""))[1]))
        status, error = (log1.get(url) or ("missing", None))[:2]
        if got == 0 and not error:
            silent_empty.append((f.path, status))
    requested2 = sum(v for k, v in statuses2.items() if k != "skipped")
    report = {
        "feeds": len(files),
        "cycle1_seconds": round(t1 - t0, 1),
        "cycle2_seconds": round(t2 - t1, 1),
        "feeds_with_exactly_one_outcome": sum(1 for u in urls if outcomes_per_feed.get(u) == 1),
        "cycle1": {
            "ok": first.feeds_ok,
            "failed": first.feeds_failed,
            "not_modified": first.feeds_not_modified,
            "new_items": first.new_items,
        },
        "items_stored": sum(stored.values()),
        "count_agreement": matches,
        "count_agreement_pct": round(100 * matches / len(files), 2),
        "empty_without_recorded_reason": len(silent_empty),
        "cycle2_statuses": statuses2,
        "cycle2_304_pct_of_requests": round(
            100 * statuses2.get("not_modified", 0) / max(requested2, 1), 2
        ),
        "cycle2_new_items": second.new_items,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "mismatches_sample": mismatches[:40],
        "silent_empty_sample": silent_empty[:20],
    }
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, default=str))
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="only the first N files (quick check)")
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args()
    report = run(args.limit, args.json)
    for key, value in report.items():
        if key.endswith("_sample"):
            print(f"{key}:")
            for row in value:  # type: ignore[union-attr]
                print("   ", row)
        else:
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
