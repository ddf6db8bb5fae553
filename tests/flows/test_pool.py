"""Sharded deployments on a work pool, registered against a real (temporary) Prefect API."""

from __future__ import annotations

import pytest

from flows.ingest import shard_feeds
from flows.pool import deploy_to_work_pool, shard_deployment_name
from flows.serve import DIGEST_DEPLOYMENT
from silkwatch.config import FeedSettings, ScheduleSettings

pytestmark = pytest.mark.usefixtures("prefect_backend")


def test_each_shard_gets_a_deployment_with_its_parameters():
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(name="silkwatch-test", type="process"), overwrite=True
        )
        ids = deploy_to_work_pool(
            ScheduleSettings(monitor_every_minutes=10, digest_at="06:00", timezone="UTC"),
            "/etc/silkwatch/silkwatch.toml",
            work_pool="silkwatch-test",
            shards=3,
        )
        deployments = [client.read_deployment(i) for i in ids]

    by_name = {d.name: d for d in deployments}
    assert set(by_name) == {shard_deployment_name(i, 3) for i in range(3)} | {DIGEST_DEPLOYMENT}
    for i in range(3):
        d = by_name[shard_deployment_name(i, 3)]
        assert d.work_pool_name == "silkwatch-test"
        assert d.entrypoint == "flows.monitor.monitor"  # workers import it from the package
        assert d.parameters == {
            "config_path": "/etc/silkwatch/silkwatch.toml",
            "shard": i,
            "shards": 3,
        }
        assert d.schedules[0].schedule.interval.total_seconds() == 600
    assert by_name[DIGEST_DEPLOYMENT].schedules[0].schedule.cron == "0 6 * * *"


def test_shards_split_the_feed_list_without_overlap():
    feeds = [FeedSettings(url=f"https://news{i}.example/feed") for i in range(200)]
    parts = [shard_feeds(feeds, i, 3) for i in range(3)]
    urls = [f.url for part in parts for f in part]
    assert sorted(urls) == sorted(f.url for f in feeds)  # each feed in exactly one shard
    assert all(len(part) > 40 for part in parts)  # and roughly balanced
