"""Classification stage: score stored items against the themes and save the scores.

One coarse task per cycle (never a task per item: Prefect's per-task cost would dominate).
Work goes in batches of ``classifier.batch_size`` items; the DuckDB file is opened only to
read a batch's texts and to write its scores (one transaction per batch), never while the
model runs, so ``silkwatch sql`` and other readers are blocked for milliseconds, not minutes.
A crash loses at most the batch in flight, and the next run picks up what is still pending.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from classifiers.classifier import get_classifier
from classifiers.model import model_name
from classifiers.text import TextItem
from silkwatch.config import Settings
from silkwatch.types import ItemScore
from warehouse.db import open_db
from warehouse.scores import item_ids, item_texts, pending_item_ids, save_scores

__all__ = ["ClassifyResult", "classify_new_items", "classify_task", "reclassify"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ClassifyResult:
    """What one classification pass did."""

    scored: int  # items scored
    matched: int  # (item, theme) pairs at or above the theme's threshold
    model: str
    themes_version: str
    new_matches: tuple[ItemScore, ...] = ()  # the matched pairs, for logs and alerts


def _open(settings: Settings):
    return open_db(settings.storage.database, busy_timeout=settings.storage.busy_timeout_seconds)


def _score_ids(settings: Settings, ids: Sequence[str], progress: Progress | None) -> ClassifyResult:
    version = settings.themes_version()
    model = model_name(settings.classifier.model)
    if progress:
        progress(0, len(ids))
    if not ids:
        return ClassifyResult(0, 0, model, version)
    classifier = get_classifier(settings)  # loads the model only when there is work
    size = settings.classifier.batch_size
    scored = 0
    matches: list[ItemScore] = []
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        with _open(settings) as conn:
            rows = item_texts(conn, chunk)
        results = classifier.score([TextItem(*row) for row in rows])
        batch = [s for r in results for s in r.scores]
        with _open(settings) as conn:
            save_scores(
                conn, batch, model=model, themes_version=version, scored_at=datetime.now(UTC)
            )
        scored += len(results)
        matches.extend(s for s in batch if s.matched)
        if progress:
            progress(min(start + len(chunk), len(ids)), len(ids))
    return ClassifyResult(scored, len(matches), model, version, tuple(matches))


def classify_new_items(settings: Settings, *, progress: Progress | None = None) -> ClassifyResult:
    """Score the items that have no scores yet under the current model and theme version.

    A rerun with nothing new scores nothing (and does not load the model).
    ``progress(done, total)`` is called after each batch.
    """
    with _open(settings) as conn:
        ids = pending_item_ids(
            conn,
            model=model_name(settings.classifier.model),
            themes_version=settings.themes_version(),
        )
    return _score_ids(settings, ids, progress)


def reclassify(
    settings: Settings, *, since: datetime | None = None, progress: Progress | None = None
) -> ClassifyResult:
    """Rescore stored items (fetched at or after ``since``) under the current version.

    Rows written under other models or theme versions are left alone, so earlier results
    stay queryable by ``themes_version``; rows of the current version are replaced.
    """
    with _open(settings) as conn:
        ids = item_ids(conn, since=since)
    return _score_ids(settings, ids, progress)


classify_task = task(name="classify-new-items", cache_policy=NO_CACHE, persist_result=False)(
    classify_new_items
)
