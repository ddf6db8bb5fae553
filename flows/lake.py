"""Publishing to the shared DuckLake at the end of a monitoring cycle.

The local DuckDB file already holds everything the cycle found, so a lake that cannot be
reached (a catalog server down, a full disk) is logged and recorded, never a failed cycle:
the rows stay unpublished and the next cycle sends them.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from silkwatch.config import Settings
from silkwatch.errors import LakeError
from warehouse.lake_publish import LakePublish, publish_to_lake

__all__ = ["LakeOutcome", "publish_lake", "publish_lake_task"]


@dataclass(frozen=True)
class LakeOutcome:
    published: LakePublish | None = None
    error: str | None = None


def publish_lake(settings: Settings) -> LakeOutcome:
    """Publish this writer's new rows; a failure comes back as the outcome's ``error``."""
    logger = get_run_logger()
    try:
        done = publish_to_lake(
            settings.storage.database,
            settings.lake,
            busy_timeout=settings.storage.busy_timeout_seconds,
        )
    except LakeError as exc:
        logger.warning("lake publish failed; rows stay local, the next cycle retries: %s", exc)
        return LakeOutcome(error=str(exc))
    logger.info(
        "published to the lake: %d items, %d scores, %d feed rows (snapshot %s)",
        done.items,
        done.scores,
        done.feeds,
        done.snapshot_id,
    )
    return LakeOutcome(published=done)


publish_lake_task = task(name="publish-lake", cache_policy=NO_CACHE, persist_result=False)(
    publish_lake
)
