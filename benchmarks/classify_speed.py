"""Throughput of silkwatch's classify path against sentence-transformers, same texts, same model.

    .venv/bin/python benchmarks/classify_speed.py [--source feeds|dev] [--items 1000]
        [--repeats 3]

Texts: ``feeds`` (default) takes title + summary of the English news snapshots in
../shared/feeds-corpus/news-snapshots/fastfeedparser-bench (real items, HTML turned into text
as the ingest does); ``dev`` takes ../shared/data/themes-dev.jsonl, repeated up to ``--items``.

silkwatch side: ``Classifier.score(items)``, the full path the monitor runs (segmenting,
truncation to ``max_tokens``, embedding, scoring against every theme, evidence).
sentence-transformers side: ``SentenceTransformer(path).encode(texts)`` on title + summary of
the same items, with its default settings (batch 32, max_seq_length 256): embeddings only.
Both load the bundled all-MiniLM-L6-v2 and run in this process on the same torch threads.
Runs alternate (ours, theirs, ours, ...) so a busy machine slows both alike, and the best of
``--repeats`` runs counts for each (model loading is not timed). Prints
items/s for both and the ratio silkwatch / sentence-transformers (goal: >= 1.0).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEV = SHARED / "data" / "themes-dev.jsonl"
SNAPSHOTS = SHARED / "feeds-corpus" / "news-snapshots" / "fastfeedparser-bench"


def dev_texts(n: int) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line]
    pairs = [(r.get("title") or "", r.get("summary") or "") for r in rows]
    return [pairs[i % len(pairs)] for i in range(n)]


def feed_texts(n: int) -> list[tuple[str, str]]:
    import feedparser

    from feeds.normalize import html_to_text

    pairs: list[tuple[str, str]] = []
    for path in sorted(SNAPSHOTS.glob("*.xml")):
        for entry in feedparser.parse(path.read_bytes()).entries:
            title = html_to_text(entry.get("title"))
            if title:
                pairs.append((title, html_to_text(entry.get("summary"))))
    seen: set[tuple[str, str]] = set()
    unique = [p for p in pairs if not (p in seen or seen.add(p))]
    return unique[:n]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=["feeds", "dev"], default="feeds")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from sentence_transformers import SentenceTransformer

    from classifiers.classifier import get_classifier
    from classifiers.model import model_ref
    from classifiers.text import TextItem, item_text
    from silkwatch.config import load_settings

    settings = load_settings(None, {})
    pairs = feed_texts(args.items) if args.source == "feeds" else dev_texts(args.items)
    items = [TextItem(str(i), t, s) for i, (t, s) in enumerate(pairs)]
    texts = [item_text(t, s) for t, s in pairs]

    classifier = get_classifier(settings)
    st = SentenceTransformer(model_ref(settings.classifier.model), device="cpu")
    classifier.score(items[:64])  # warm up both (first calls allocate)
    st.encode(texts[:64])

    ours = theirs = float("inf")
    for _ in range(args.repeats):
        ours = min(ours, timed(lambda: classifier.score(items)))
        theirs = min(theirs, timed(lambda: st.encode(texts)))
    ours_rate, theirs_rate = len(items) / ours, len(items) / theirs
    tokens = sum(len(t) for t in st.tokenizer(texts, truncation=True, max_length=256)["input_ids"])
    print(
        f"items: {len(items)} from {args.source} ({tokens / len(items):.0f} tokens each on "
        f"average, untruncated up to 256); torch threads: {torch.get_num_threads()}"
    )
    print(
        f"silkwatch classify        : {ours_rate:8.1f} items/s  ({ours:.2f} s, "
        f"max_tokens={classifier.max_tokens}, batch={classifier.batch_size}, "
        f"{len(classifier.indexes)} themes scored)"
    )
    print(
        f"sentence-transformers     : {theirs_rate:8.1f} items/s  ({theirs:.2f} s, "
        f"max_seq_length={st.max_seq_length}, encode only)"
    )
    print(f"ratio silkwatch / ST      : {ours_rate / theirs_rate:.2f}")


if __name__ == "__main__":
    main()
