"""CLI commands for the monitoring cycle and the warehouse: run, sql, feeds."""

from __future__ import annotations

import json
from pathlib import Path

import click

from silkwatch.cli.common import (
    config_option,
    fail_cleanly,
    format_option,
    prepare_prefect_env,
    progress_bar,
)
from silkwatch.config import FeedSettings, Settings
from silkwatch.types import CycleSummary


def _print_summary(summary: CycleSummary, settings: Settings) -> None:
    click.echo(
        f"feeds: {summary.feeds_ok} ok, {summary.feeds_not_modified} not modified, "
        f"{summary.feeds_failed} failed, {summary.feeds_skipped} not due"
    )
    click.echo(
        f"items: {summary.new_items} new, {summary.items_scored} scored, "
        f"{summary.matches} theme matches; alerts: {summary.alerts_sent} sent"
        + (f", {summary.alerts_failed} failed" if summary.alerts_failed else "")
    )
    for url, error in summary.failures[:10]:
        click.echo(f"  failed: {error}" if url in error else f"  failed: {url}: {error}")
    if len(summary.failures) > 10:
        click.echo(f"  … and {len(summary.failures) - 10} more (silkwatch feeds status)")
    if summary.lake_error:
        click.echo(f"lake: publish failed, rows kept for the next cycle: {summary.lake_error}")
    elif settings.lake.enabled and settings.lake.publish_every_cycle:
        from warehouse.lake import lake_identity

        click.echo(
            f"lake: {summary.lake_items} items, {summary.lake_scores} scores published "
            f"to {lake_identity(settings.lake.catalog)}"
        )
    click.echo(f"time: {summary.elapsed_seconds:.1f} s; database: {settings.storage.database}")


@click.command()
@config_option
@click.option("--shard", type=int, default=0, show_default=True, help="This worker's shard.")
@click.option("--shards", type=int, default=1, show_default=True, help="Number of shards.")
@click.option("--no-classify", is_flag=True, help="Only fetch and store.")
@click.option("--no-alerts", is_flag=True, help="Do not deliver alerts this cycle.")
@fail_cleanly
def run(settings: Settings, shard: int, shards: int, no_classify: bool, no_alerts: bool) -> None:
    """Run one monitoring cycle: fetch feeds, store new items, classify, alert.

    Exits 0 when the cycle completes, even if some feeds failed (they are recorded:
    see `silkwatch feeds status`).
    """
    prepare_prefect_env()
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.ingest import shard_feeds
    from flows.monitor import monitor

    total = len(shard_feeds(settings.feeds, shard, shards))
    with (
        # heartbeats detect crashed runs of served deployments; a CLI run would only pay
        # a 1 s join for them at exit
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        progress_bar() as bar,
    ):
        job = bar.add_task("fetching feeds", total=total)
        summary = monitor(
            config_path=settings.config_file,
            shard=shard,
            shards=shards,
            classify=not no_classify,
            alert=not no_alerts,
            progress=lambda _outcome: bar.advance(job),
        )
    _print_summary(summary, settings)


@click.command()
@click.argument("query")
@config_option
@click.option(
    "--lake",
    "on_lake",
    is_flag=True,
    help="Query the shared DuckLake ([lake] settings) instead of the local database.",
)
@format_option("table", "csv", "json")
@fail_cleanly
def sql(settings: Settings, query: str, on_lake: bool, fmt: str) -> None:
    """Run a read-only SQL QUERY against the database (or, with --lake, the DuckLake).

    \b
    Example:
      silkwatch sql "SELECT title, published_at FROM items ORDER BY published_at DESC LIMIT 10"
    """
    from warehouse.query import format_result, run_query

    if on_lake:
        from silkwatch.cli.lake import require_lake
        from warehouse.lake_admin import query_lake

        require_lake(settings)
        result = query_lake(settings.lake, query)
    else:
        result = run_query(
            settings.storage.database, query, busy_timeout=settings.storage.busy_timeout_seconds
        )
    click.echo(format_result(result, fmt))  # type: ignore[arg-type]


@click.group()
def feeds() -> None:
    """Inspect and manage the feed list."""


@feeds.command("status")
@config_option
@click.option("--failing", is_flag=True, help="Only feeds whose last fetch failed.")
@format_option("table", "csv", "json")
@fail_cleanly
def feeds_status(settings: Settings, failing: bool, fmt: str) -> None:
    """Feed health: last status and error, how long it has failed, next fetch."""
    from warehouse.db import open_db
    from warehouse.feed_store import feed_health
    from warehouse.query import QueryResult, format_result

    with open_db(
        settings.storage.database,
        read_only=True,
        busy_timeout=settings.storage.busy_timeout_seconds,
    ) as conn:
        rows = feed_health(conn, failing_only=failing)
    columns = list(rows[0]) if rows else ["url", "last_status", "last_error"]
    result = QueryResult(columns=columns, rows=[tuple(r.values()) for r in rows])
    click.echo(format_result(result, fmt))  # type: ignore[arg-type]


def _toml_feed(feed: FeedSettings) -> str:
    lines = ["", "[[feeds]]", f"url = {json.dumps(feed.url)}"]
    if feed.name:
        lines.append(f"name = {json.dumps(feed.name, ensure_ascii=False)}")
    if feed.tags:
        lines.append(f"tags = {json.dumps(list(feed.tags), ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


@feeds.command("import-opml")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SILKWATCH_CONFIG",
    default="silkwatch.toml",
    show_default=True,
    show_envvar=True,
    help="Config file to add the feeds to (created if missing).",
)
@fail_cleanly
def import_opml(opml_file: Path, config_path: Path) -> None:
    """Add the feeds of an OPML file (what feed readers export) to the config file.

    Feeds already configured are skipped. A new config file starts with the built-in
    feed list, because a [[feeds]] list in a config file replaces the defaults.
    """
    from feeds.opml import read_opml
    from silkwatch.config import load_settings

    found = read_opml(opml_file)
    current = load_settings(config_path if config_path.exists() else None, environ={})
    user_has_feeds = config_path.exists() and "[[feeds]]" in config_path.read_text("utf-8")
    known = {f.url for f in current.feeds} if user_has_feeds or not config_path.exists() else set()
    text = ""
    if not user_has_feeds:
        text += "".join(_toml_feed(f) for f in current.feeds)
    added = [f for f in found if f.url not in known]
    seen: set[str] = set()
    for f in added:
        if f.url not in seen:
            seen.add(f.url)
            text += _toml_feed(f)
    with config_path.open("a", encoding="utf-8") as fh:
        fh.write(text)
    load_settings(config_path, environ={})  # fail now, naming the file, if we broke it
    click.echo(
        f"added {len(seen)} feed(s) from {opml_file} to {config_path} "
        f"({len(found) - len(seen)} already present)"
    )


def register(cli: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    cli.add_command(run)
    cli.add_command(sql)
    cli.add_command(feeds)
