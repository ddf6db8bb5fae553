"""Deployments on a Prefect work pool: the feed list split into shards, one deployment each.

``silkwatch serve`` runs everything on one machine. On a work pool, any number of
``prefect worker start --pool NAME`` processes (on this or other machines, each with
silkwatch installed) pick runs up, so the shards of one cycle run in parallel. Each shard
is a ``monitor`` deployment with ``shard=i, shards=N``: ``flows.ingest.shard_feeds`` gives it
the feeds whose URL hash falls in its shard, so shards never fetch the same feed.

The deployments name the flows by module path (``flows.monitor.monitor``), so workers need
silkwatch installed (pip or the Docker image), not a copy of this checkout.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from silkwatch.config import ScheduleSettings
from silkwatch.errors import ConfigError

__all__ = ["deploy_to_work_pool", "shard_deployment_name"]


def shard_deployment_name(shard: int, shards: int) -> str:
    return f"silkwatch-monitor-{shard + 1}-of-{shards}"


def deploy_to_work_pool(
    schedule: ScheduleSettings,
    config_path: str | None,
    *,
    work_pool: str,
    shards: int = 1,
    image: str | None = None,
) -> list[UUID]:
    """Register N monitor shard deployments and one digest deployment on ``work_pool``.

    ``config_path`` must name the config file as the workers see it (the same path on
    every machine, e.g. a mounted volume); None means the workers' built-in defaults and
    ``SILKWATCH_*`` environment. ``image`` is the container image for Docker or
    Kubernetes pools (for example one built from docker/Dockerfile); process pools need none.
    """
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    from prefect.deployments.runner import EntrypointType

    from flows.serve import digest_deployment, monitor_deployment

    # workers import the flows from the installed package, not from a copy of this checkout
    by_module = EntrypointType.MODULE_PATH
    anchor = datetime.now(UTC)
    deployments: list[Any] = [
        monitor_deployment(
            schedule,
            config_path,
            name=shard_deployment_name(i, shards),
            anchor=anchor,
            shard=i,
            shards=shards,
            entrypoint_type=by_module,
            tags=["silkwatch", f"shard-{i + 1}-of-{shards}"],
            description=f"Monitoring cycle for shard {i + 1} of {shards} of the feed list.",
        )
        for i in range(shards)
    ]
    deployments.append(
        digest_deployment(schedule, config_path, entrypoint_type=by_module, tags=["silkwatch"])
    )
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(work_pool)
        except ObjectNotFound:
            raise ConfigError(
                f"work pool {work_pool!r} does not exist; create it first, e.g. "
                f"`prefect work-pool create {work_pool} --type process`",
                key="--work-pool",
            ) from None
    # Each deployment is applied directly rather than through prefect.deploy(), which also
    # lists the pool's online workers with a request this pinned FastAPI rejects (422).
    return [d.apply(image=image, work_pool_name=work_pool) for d in deployments]
