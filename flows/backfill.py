"""Rescore many stored items at once, spread over several processes or machines with Dask.

The monitor flow scores a cycle's new items in one task, which is right for tens or
hundreds of items. After a model or theme change, or when importing an archive, there can
be hundreds of thousands: then scoring (the model) is the bottleneck and parallelises, while
writing must not (DuckDB has one writer). So this flow reads texts and writes scores in the
flow process and ships only the scoring, one task per chunk, to a task runner:

* ``workers <= 1``: Prefect's thread pool with one worker (no extra dependency);
* ``workers > 1``: a local Dask cluster of ``workers`` processes, one thread each
  (``pip install prefect-dask``); each worker process loads the model once and keeps it;
* ``dask_address="tcp://host:8786"``: an existing Dask cluster (e.g. several machines).

Scores are identical to the monitor flow's (same classifier code), written under the current
model and theme version, replacing that version's earlier rows.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from classifiers.classifier import get_classifier
from classifiers.model import model_name
from classifiers.text import TextItem
from silkwatch.config import Settings, load_settings
from silkwatch.errors import ConfigError
from silkwatch.types import ItemScore
from warehouse.db import open_db
from warehouse.scores import item_ids, item_texts, pending_item_ids, save_scores

__all__ = ["BackfillResult", "backfill", "make_task_runner", "run_backfill", "score_chunk"]


@dataclass(frozen=True)
class BackfillResult:
    items: int  # items scored
    matches: int  # (item, theme) pairs at or above threshold
    chunks: int
    model: str
    themes_version: str
    runner: str  # which task runner did the scoring


@task(name="score-chunk", cache_policy=NO_CACHE, persist_result=False, retries=1)
def score_chunk(settings: Settings, rows: list[tuple[str, str, str]]) -> list[ItemScore]:
    """Score one chunk of ``(item_id, title, summary)``; runs wherever the task runner puts it."""
    classifier = get_classifier(settings)  # loaded once per worker process, then reused
    return [s for result in classifier.score([TextItem(*r) for r in rows]) for s in result.scores]


def make_task_runner(workers: int = 1, dask_address: str | None = None) -> Any:
    """The task runner for ``workers`` / ``dask_address`` (see the module docstring)."""
    if dask_address is None and workers <= 1:
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=1)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ConfigError(
            "parallel backfill needs the optional package prefect-dask (pip install prefect-dask)",
            key="--workers" if dask_address is None else "--dask-address",
        ) from None
    if dask_address is not None:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


def _chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


@flow(name="backfill", log_prints=False)
def backfill(
    settings: Settings | None = None,
    config_path: str | None = None,
    since: datetime | None = None,
    only_pending: bool = False,
    chunk_size: int = 1000,
    in_flight: int = 2,
) -> BackfillResult:
    """Score stored items (fetched at or after ``since``; ``only_pending``: unscored ones).

    At most ``in_flight`` chunks are out at once, so memory stays bounded however many
    items there are. Call it through :func:`run_backfill`, which picks the task runner.
    """
    if settings is None:
        settings = load_settings(config_path)
    logger = get_run_logger()
    model = model_name(settings.classifier.model)
    version = settings.themes_version()
    db_path, wait = settings.storage.database, settings.storage.busy_timeout_seconds
    with open_db(db_path, busy_timeout=wait) as conn:
        ids = (
            pending_item_ids(conn, model=model, themes_version=version, since=since)
            if only_pending
            else item_ids(conn, since=since)
        )
    chunks = _chunks(ids, chunk_size)
    pending: deque[Any] = deque()
    scored = matches = saved = 0

    def save_oldest() -> None:
        nonlocal scored, matches, saved
        scores: list[ItemScore] = pending.popleft().result()
        with open_db(db_path, busy_timeout=wait) as conn:
            save_scores(
                conn, scores, model=model, themes_version=version, scored_at=datetime.now(UTC)
            )
        scored += len({s.item_id for s in scores})
        matches += sum(s.matched for s in scores)
        saved += 1
        logger.info("backfill: chunk %d/%d saved (%d items so far)", saved, len(chunks), scored)

    for chunk in chunks:
        with open_db(db_path, read_only=True, busy_timeout=wait) as conn:
            rows = item_texts(conn, chunk)
        pending.append(score_chunk.submit(settings, rows))
        if len(pending) >= max(1, in_flight):
            save_oldest()
    while pending:
        save_oldest()
    ctx = FlowRunContext.get()
    runner = type(ctx.task_runner).__name__ if ctx and ctx.task_runner else "none"
    return BackfillResult(scored, matches, len(chunks), model, version, runner)


def run_backfill(
    settings: Settings,
    *,
    since: datetime | None = None,
    only_pending: bool = False,
    chunk_size: int = 1000,
    workers: int = 1,
    dask_address: str | None = None,
) -> BackfillResult:
    """Run :func:`backfill` with the task runner that ``workers``/``dask_address`` ask for."""
    runner = make_task_runner(workers, dask_address)
    result: BackfillResult = backfill.with_options(task_runner=runner)(
        settings=settings,
        since=since,
        only_pending=only_pending,
        chunk_size=chunk_size,
        in_flight=2 * max(1, workers),
    )
    return result
