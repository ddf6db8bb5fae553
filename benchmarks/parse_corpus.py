"""Parser speed and robustness over ../shared/feeds-corpus (no HTTP, no storage).

(a) Times plain ``feedparser.parse(bytes)`` against ``feeds.parse.parse_feed`` over the 66
    news feeds in ``bench-news.txt``, in one process, and prints the ratio.
(b) Runs ``parse_feed`` over every file in ``MANIFEST.tsv`` and reports exceptions other
    than ``ParseError`` (must be 0), files whose item count differs from the number of
    distinct entries plain feedparser finds (same guid rule), and ParseErrors.

    .venv/bin/python benchmarks/parse_corpus.py [--corpus DIR] [--repeat N] [--show N]
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import time
import traceback
from pathlib import Path

import feedparser

from feeds.normalize import html_to_text, struct_time_to_utc
from feeds.parse import entry_guid, entry_link, parse_feed
from silkwatch.errors import ParseError
from silkwatch.types import FetchResult

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "feeds-corpus"


def fetch_result(path: Path, rel: str) -> FetchResult:
    ctype = "application/feed+json" if rel.endswith(".json") else "application/xml"
    url = f"http://127.0.0.1:8000/{rel}"
    return FetchResult(
        url=url,
        final_url=url,
        status=200,
        body=path.read_bytes(),
        headers={"content-type": ctype},
    )


def time_bench(corpus: Path, repeat: int) -> None:
    rels = [r.strip() for r in (corpus / "bench-news.txt").read_text().splitlines() if r.strip()]
    results = [fetch_result(corpus / r, r) for r in rels]
    total_bytes = sum(len(r.body) for r in results)
    best_plain = best_ours = float("inf")
    entries = items = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        entries = sum(len(feedparser.parse(r.body).entries) for r in results)
        best_plain = min(best_plain, time.perf_counter() - t0)
        t0 = time.perf_counter()
        items = sum(len(parse_feed(r).items) for r in results)
        best_ours = min(best_ours, time.perf_counter() - t0)
    print(f"(a) {len(results)} bench feeds, {total_bytes / 1e6:.2f} MB, best of {repeat}")
    print(f"    plain feedparser.parse(bytes): {best_plain:.3f} s  ({entries} entries)")
    print(f"    feeds.parse.parse_feed:        {best_ours:.3f} s  ({items} items)")
    print(f"    ratio parse_feed / plain:      {best_ours / best_plain:.2f}")


def distinct_plain(result: FetchResult) -> int:
    """Distinct entries plain feedparser finds (same headers), by parse_feed's guid rule."""
    try:
        parsed = feedparser.parse(io.BytesIO(result.body), response_headers=dict(result.headers))
    except Exception:  # feedparser raises on a few files; they have no entries to compare
        return 0
    seen = set()
    for parsed_entry in parsed.entries:
        entry = dict(parsed_entry)
        link = entry_link(entry, result.final_url)
        title = html_to_text(entry.get("title"))
        summary = html_to_text(entry.get("summary") or _content(entry))
        published = struct_time_to_utc(
            entry.get("published_parsed")
            or entry.get("updated_parsed")
            or entry.get("created_parsed")
        )
        seen.add(entry_guid(entry, link, title, summary, published and published.isoformat()))
    return len(seen)


def json_items(body: bytes) -> int:
    """Items a JSON Feed lists (object items only); -1 if the body is not a JSON object."""
    try:
        doc = json.loads(body.removeprefix(b"\xef\xbb\xbf"))
    except ValueError:
        return -1
    items = doc.get("items") if isinstance(doc, dict) else None
    return sum(isinstance(i, dict) for i in items) if isinstance(items, list) else 0


def _content(entry: dict) -> str | None:
    content = entry.get("content")
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("value")
    return None


def corpus_run(corpus: Path, show: int) -> None:
    lines = (corpus / "MANIFEST.tsv").read_text("utf-8").splitlines()[1:]
    rels = [line.split("\t", 1)[0] for line in lines if line.strip()]
    crashes: list[tuple[str, str]] = []
    parse_errors: collections.Counter[str] = collections.Counter()
    parse_error_files: list[tuple[str, str]] = []
    mismatches: list[tuple[str, int, int]] = []
    items_total = 0
    json_files = 0
    t0 = time.perf_counter()
    for rel in rels:
        result = fetch_result(corpus / rel, rel)
        is_json = rel.endswith(".json")
        json_files += is_json
        # JSON: plain feedparser finds nothing, so compare with the items the JSON lists.
        expected = json_items(result.body) if is_json else distinct_plain(result)
        try:
            got = len(parse_feed(result).items)
        except ParseError as exc:
            parse_errors[exc.message.split(" (", 1)[0].split(":", 1)[0]] += 1
            parse_error_files.append((rel, exc.message))
            got = 0
        except Exception as exc:  # the point of the benchmark: count them
            crashes.append((rel, "".join(traceback.format_exception_only(exc)).strip()))
            continue
        items_total += got
        if got != max(expected, 0):
            mismatches.append((rel, got, expected))
    elapsed = time.perf_counter() - t0
    n = len(rels)
    agree = n - len(crashes) - len(mismatches)
    print(f"(b) {n} corpus files ({json_files} JSON) in {elapsed:.1f} s, {items_total} items")
    print(f"    crashes (exceptions other than ParseError): {len(crashes)}")
    for rel, msg in crashes[:show]:
        print(f"      {rel}: {msg}")
    print(
        f"    item count == distinct plain-feedparser entries: {agree}/{n} "
        f"({100 * agree / n:.2f}%); mismatches: {len(mismatches)}"
    )
    for rel, got, expected in mismatches[:show]:
        print(f"      {rel}: parse_feed {got}, expected {expected}")
    print(f"    ParseErrors: {len(parse_error_files)}")
    for reason, count in parse_errors.most_common():
        print(f"      {count:5d}  {reason}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--show", type=int, default=15, help="examples listed per category")
    ap.add_argument("--skip-timing", action="store_true")
    args = ap.parse_args()
    if not args.skip_timing:
        time_bench(args.corpus, args.repeat)
    corpus_run(args.corpus, args.show)


if __name__ == "__main__":
    main()
