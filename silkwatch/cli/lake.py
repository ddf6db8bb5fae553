"""CLI commands for the shared DuckLake: lake publish, lake status, lake compact."""

from __future__ import annotations

from datetime import timedelta

import click

from silkwatch.cli.common import (
    DurationType,
    config_option,
    fail_cleanly,
    format_option,
    progress_bar,
)
from silkwatch.config import Settings


def require_lake(settings: Settings) -> None:
    if not settings.lake.enabled:
        raise click.ClickException(
            f"{settings.source}: lake.catalog is not set; see docs/scaling.md "
            "(e.g. SILKWATCH_LAKE__CATALOG=sqlite:/shared/lake.sqlite "
            "SILKWATCH_LAKE__DATA_PATH=/shared/lake-data)"
        )


@click.group()
def lake() -> None:
    """Publish to and inspect the DuckLake shared by many writers ([lake] settings)."""


@lake.command("publish")
@config_option
@fail_cleanly
def lake_publish(settings: Settings) -> None:
    """Publish this database's new items, scores and feed health to the lake now.

    `silkwatch run` and `serve` do this after every cycle; use this for a first publish
    of an existing database (it shows progress) or after the lake was unreachable.
    """
    require_lake(settings)
    from warehouse.lake_publish import publish_to_lake

    with progress_bar() as bar:
        jobs: dict[str, object] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in jobs:
                jobs[table] = bar.add_task(f"publishing {table}", total=total)
            bar.update(jobs[table], completed=done)

        done = publish_to_lake(
            settings.storage.database,
            settings.lake,
            busy_timeout=settings.storage.busy_timeout_seconds,
            progress=progress,
        )
    click.echo(
        f"published {done.items} items, {done.scores} scores, {done.feeds} feed rows "
        f"to {done.lake} as {done.writer!r} (snapshot {done.snapshot_id}, "
        f"{done.elapsed_seconds:.1f} s)"
    )


@lake.command("status")
@config_option
@format_option("table", "json")
@fail_cleanly
def lake_status_cmd(settings: Settings, fmt: str) -> None:
    """What the lake holds, which writers commit to it, what this database has to send."""
    require_lake(settings)
    import json

    from warehouse.lake_admin import lake_status
    from warehouse.query import format_result, jsonable

    status = lake_status(
        settings.lake,
        settings.storage.database,
        busy_timeout=settings.storage.busy_timeout_seconds,
    )
    if fmt == "json":
        payload = {
            "lake": status.lake,
            "data_path": status.data_path,
            "snapshot_id": status.snapshot_id,
            "snapshot_time": status.snapshot_time,
            "rows": status.rows,
            "files": status.files,
            "writers": status.writers.records(),
            "pending": status.pending,
            "last_publishes": status.last_publish.records(),
        }
        click.echo(json.dumps(jsonable(payload), indent=2))
        return
    click.echo(f"lake: {status.lake}\ndata: {status.data_path}")
    click.echo(f"latest snapshot: {status.snapshot_id} at {status.snapshot_time}")
    for table, count in status.rows.items():
        click.echo(f"  {table}: {count} rows in {status.files.get(table, 0)} files")
    click.echo("writers:")
    click.echo(format_result(status.writers, "table"))
    if status.pending:
        waiting = ", ".join(f"{n} {t}" for t, n in status.pending.items())
        click.echo(f"not yet published from {settings.storage.database}: {waiting}")
    if status.last_publish.rows:
        click.echo("this database's last publishes:")
        click.echo(format_result(status.last_publish, "table"))


@lake.command("compact")
@config_option
@click.option(
    "--keep",
    type=DurationType(),
    default="7d",
    show_default=True,
    help="Keep snapshots (time travel) this far back, e.g. 24h or 30d.",
)
@fail_cleanly
def lake_compact(settings: Settings, keep: float) -> None:
    """Merge the lake's small files, expire old snapshots and delete files no one reads.

    Safe while writers publish; run it daily or weekly (docs/operations.md).
    """
    require_lake(settings)
    from warehouse.lake_admin import compact_lake

    done = compact_lake(settings.lake, keep=timedelta(hours=keep))
    click.echo(
        f"data files: {done.files_before} → {done.files_after}; "
        f"snapshots expired: {done.snapshots_expired}; files deleted: {done.files_deleted}"
    )


def register(cli: click.Group) -> None:
    """Add the lake command group."""
    cli.add_command(lake)
