"""Score items against themes: a calibrated score in [0, 1] per theme, a match, and evidence.

Method (chosen by measurement on the labelled dev set; see docs/themes.md):

1. The item is split into segments (title, then each summary sentence) and cut to
   ``max_tokens`` tokens in total; every segment is embedded.
2. For each segment and theme, two votes on a logit scale:
   - *prototype margin*: similarity to the nearest example sentence minus similarity to the
     nearest negative (counter-example, other theme's example, everyday news), divided by
     ``tau``. Positive when the segment is closer to the theme than to any near miss. The
     nearest negative is never taken below ``floor``: news unlike *every* written sentence
     would otherwise win a large margin from a faint likeness to one example;
   - *head*: the logistic head fitted on the same sentences (``classifiers/head.py``).
   The segment's logit is their mean; the item's is the best segment's, or that of the whole
   item (the token-weighted mean of its segment vectors) if higher.
3. Matching keywords add a small bonus (capped), then ``score = sigmoid(logit - offset)``.
   ``offset`` puts the decision boundary at 0.5, so a theme's ``threshold`` reads as a
   probability-like cut: 0.5 is the measured balance point, higher is stricter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from classifiers.model import Encoder
from classifiers.prototypes import ThemeIndex
from classifiers.text import TextItem, item_segments, item_text, keyword_hits
from silkwatch.types import ItemScore

__all__ = ["DEFAULT_PARAMS", "ItemResult", "ScoringParams", "score_items"]


@dataclass(frozen=True)
class ScoringParams:
    """Constants of the method; the defaults are what the dev-set measurements support."""

    tau: float = 0.02  # similarity margin worth one logit unit
    head_weight: float = 0.5  # share of the head in a segment's logit (rest: prototypes)
    offset: float = 0.75  # logit at which the score is 0.5
    keyword_bonus: float = 0.5  # logit added per matching keyword ...
    max_keyword_hits: int = 2  # ... for at most this many keywords
    min_tail_tokens: int = 8  # a last segment shorter than this after truncation is dropped
    segment_lift: float = 0.5  # share of (best segment - whole item) added when positive
    floor: float = 0.4  # similarity of an implicit "unrelated" negative (see step 2)


DEFAULT_PARAMS = ScoringParams()


@dataclass(frozen=True)
class ItemResult:
    """All theme scores for one item, in theme order."""

    item_id: str
    scores: tuple[ItemScore, ...] = field(default_factory=tuple)

    @property
    def matches(self) -> tuple[ItemScore, ...]:
        return tuple(s for s in self.scores if s.matched)


def _budget_segments(
    encoder: Encoder, items: Sequence[TextItem], max_tokens: int, min_tail: int
) -> tuple[list[list[int]], list[list[str]]]:
    """Token ids of each item's segments, at most ``max_tokens`` content tokens per item.

    Keeps whole segments from the start (the title first) and cuts the last one that fits
    partly, so the title always counts and the tail of a long summary is what gets dropped.
    """
    specials = encoder.special_tokens
    segs = [item_segments(it.title, it.summary) for it in items]
    flat = [s for group in segs for s in group]
    ids = encoder.tokenize(flat, max_length=max_tokens + specials)
    out_ids: list[list[int]] = []
    out_texts: list[list[str]] = []
    pos = 0
    for group in segs:
        left = max_tokens
        kept_ids: list[int] = []
        kept: list[str] = []
        for text in group:
            seq = ids[pos]
            pos += 1
            content = len(seq) - specials
            if content <= left:
                kept_ids.append(len(out_ids))
                out_ids.append(list(seq))
                kept.append(text)
                left -= content
            elif left >= min_tail or not kept:
                cut = encoder.tokenize([text], max_length=max(left, 1) + specials)[0]
                kept_ids.append(len(out_ids))
                out_ids.append(list(cut))
                kept.append(text)
                left = 0
            else:
                left = 0
        out_texts.append(kept)
    return out_ids, out_texts


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(x, 60.0), -60.0)))


def score_items(
    items: Sequence[TextItem],
    indexes: Sequence[ThemeIndex],
    encoder: Encoder,
    *,
    batch_size: int = 64,
    max_tokens: int = 128,
    params: ScoringParams = DEFAULT_PARAMS,
) -> list[ItemResult]:
    """Score every item against every theme (one embedding pass for all of them)."""
    if not items:
        return []
    ids, seg_texts = _budget_segments(encoder, items, max_tokens, params.min_tail_tokens)
    vectors = encoder.encode_ids(ids, batch_size=batch_size)
    lengths = np.array([len(x) for x in ids], dtype=np.float32)
    counts = [len(t) for t in seg_texts]
    starts = np.cumsum([0, *counts[:-1]])
    # The whole item: token-weighted mean of its segment vectors, re-normalised.
    weighted = np.add.reduceat(vectors * lengths[:, None], starts, axis=0)
    whole = weighted / np.maximum(np.linalg.norm(weighted, axis=1, keepdims=True), 1e-9)
    texts = [item_text(it.title, it.summary) for it in items]

    per_theme: list[list[ItemScore]] = []
    for index in indexes:
        theme = index.theme

        def logits(v: np.ndarray, index: ThemeIndex = index) -> tuple[np.ndarray, np.ndarray]:
            sims = v @ index.examples.T
            nearest_negative = np.maximum((v @ index.negatives.T).max(axis=1), params.floor)
            margin = sims.max(axis=1) - nearest_negative
            z = (1 - params.head_weight) * margin / params.tau
            z = z + params.head_weight * index.head.logits(v)
            return z, sims

        seg_z, seg_sims = logits(vectors)
        whole_z, _ = logits(whole)
        scores: list[ItemScore] = []
        for i, item in enumerate(items):
            lo, hi = starts[i], starts[i] + counts[i]
            best = lo + int(np.argmax(seg_z[lo:hi]))
            z = float(whole_z[i])
            z += params.segment_lift * max(float(seg_z[best]) - z, 0.0)
            hits = keyword_hits(texts[i], theme.keywords)
            z += params.keyword_bonus * min(len(hits), params.max_keyword_hits)
            score = round(_sigmoid(z - params.offset), 4)
            nearest = int(np.argmax(seg_sims[best]))
            evidence = {
                "sentence": seg_texts[i][best - lo],
                "example": theme.examples[nearest],
                "similarity": round(float(seg_sims[best, nearest]), 3),
                "keywords": hits,
            }
            scores.append(
                ItemScore(
                    item_id=item.item_id,
                    theme=theme.name,
                    score=score,
                    matched=score >= theme.threshold,
                    evidence=evidence,
                )
            )
        per_theme.append(scores)
    return [
        ItemResult(item_id=item.item_id, scores=tuple(col[i] for col in per_theme))
        for i, item in enumerate(items)
    ]
