"""CLI commands for running silkwatch: demo, serve, deploy, export, backup, backfill."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from silkwatch.cli.common import SinceType, config_option, fail_cleanly, prepare_prefect_env
from silkwatch.cli.demo import demo
from silkwatch.cli.paths import shown as _shown
from silkwatch.config import Settings


@click.command()
@config_option
@click.option(
    "--prefect-api",
    envvar="PREFECT_API_URL",
    show_envvar=True,
    metavar="URL",
    help="Use this Prefect API (e.g. http://prefect:4200/api) instead of starting a local "
    "Prefect server.",
)
@click.option(
    "--in-process",
    is_flag=True,
    help="Run the cycles in one long-lived process that keeps the model loaded, instead of "
    "a new process per run (Prefect deployments). For intervals of a few minutes.",
)
@fail_cleanly
def serve(settings: Settings, prefect_api: str | None, in_process: bool) -> None:
    """Run monitoring and the daily digest on a schedule until stopped.

    Monitoring runs every [schedule] monitor_every_minutes and the digest daily at
    [schedule] digest_at in [schedule] timezone, as Prefect deployments. Without a
    Prefect API, a local `prefect server start` is run on 127.0.0.1 and stopped with this
    command. Runs never overlap, and a failed run does not stop the schedule. SIGTERM or
    Ctrl-C stops everything this command started. See docs/operations.md.
    """
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "INFO")
    prepare_prefect_env()
    from flows.serve import ServeOptions, supervise

    config_path = settings.config_file

    def echo(message: str) -> None:
        click.echo(f"{datetime.now():%H:%M:%S} silkwatch serve: {message}", err=True)

    options = ServeOptions(api_url=prefect_api, in_process=in_process)
    code = supervise(settings, config_path, options=options, echo=echo)
    sys.exit(code)


@click.command()
@config_option
@click.option(
    "--parquet",
    "parquet_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write Parquet files to, partitioned by day (created if missing).",
)
@click.option(
    "--since",
    type=SinceType(),
    default=None,
    help="Only days on or after this one (UTC): an ISO date or an age such as 2d. Those "
    "day folders are replaced; others are left alone.",
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    type=click.Choice(
        ["items", "item_themes", "fetch_log", "feeds", "alerts_sent", "digests_sent"]
    ),
    metavar="TABLE",
    help="Export only this table (repeatable): items, item_themes, fetch_log, feeds, "
    "alerts_sent, digests_sent. Default: all.",
)
@fail_cleanly
def export(
    settings: Settings, parquet_dir: Path, since: datetime | None, tables: tuple[str, ...]
) -> None:
    """Export the warehouse to Parquet, one folder per table and UTC day.

    Opens the database read-only (waiting briefly while a run writes), so it can run
    alongside `silkwatch serve`. Read the result with any Parquet reader, e.g. DuckDB:

    \b
      SELECT * FROM read_parquet('DIR/items/*/*.parquet', hive_partitioning = true)
    """
    from warehouse.db import open_db
    from warehouse.export import export_parquet

    with open_db(
        settings.storage.database,
        read_only=True,
        busy_timeout=settings.storage.busy_timeout_seconds,
    ) as conn:
        results = export_parquet(
            conn,
            parquet_dir,
            since=since.astimezone(UTC).date() if since else None,
            tables=tables or None,
        )
    for r in results:
        days = f" in {len(r.days)} day folders" if r.days else ""
        click.echo(f"{r.table}: {r.rows} rows{days} -> {_shown(r.path)}")


@click.command()
@config_option
@click.option(
    "--since",
    type=SinceType(),
    default=None,
    help="Only items stored since then: an age (24h, 7d) or an ISO date. Default: all.",
)
@click.option(
    "--only-pending",
    is_flag=True,
    help="Only items not yet scored by the current model and themes.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Scoring processes on this machine (a local Dask cluster; needs prefect-dask if > 1).",
)
@click.option(
    "--dask-address",
    metavar="tcp://HOST:PORT",
    default=None,
    help="Score on this running Dask cluster instead of local processes.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Items per scoring task.",
)
@fail_cleanly
def backfill(
    settings: Settings,
    since: datetime | None,
    only_pending: bool,
    workers: int,
    dask_address: str | None,
    chunk_size: int,
) -> None:
    """Score many stored items in parallel, e.g. after changing the model or the themes.

    Scoring is spread over --workers processes (or a Dask cluster); reading and writing
    the database stays in this process, its only writer. Scores replace those of the
    current model and theme version; other versions stay queryable.
    """
    prepare_prefect_env()
    from flows.backfill import run_backfill

    started = time.perf_counter()
    result = run_backfill(
        settings,
        since=since,
        only_pending=only_pending,
        chunk_size=chunk_size,
        workers=workers,
        dask_address=dask_address,
    )
    elapsed = time.perf_counter() - started
    click.echo(
        f"scored {result.items} items in {result.chunks} chunks with {result.runner}: "
        f"{result.matches} theme matches; model {result.model}, themes version "
        f"{result.themes_version}; {elapsed:.1f} s"
    )


@click.command()
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@fail_cleanly
def backup(settings: Settings, dest: Path) -> None:
    """Copy the database into the new DuckDB file DEST, safely while silkwatch runs.

    The copy is a consistent snapshot (tables, views and sequences) taken through a
    read-only attach, waiting briefly if a run is writing. Restore by pointing
    [storage] database at the copy, or by moving it into place while nothing runs.
    """
    from warehouse.backup import backup_database

    started = time.perf_counter()
    items = backup_database(
        settings.storage.database, dest, busy_timeout=settings.storage.busy_timeout_seconds
    )
    size = dest.stat().st_size / 1e6
    click.echo(
        f"backed up {_shown(settings.storage.database)} to {_shown(dest)}: {items} items, "
        f"{size:.1f} MB in {time.perf_counter() - started:.1f} s"
    )


@click.command()
@config_option
@click.option("--work-pool", required=True, metavar="NAME", help="Prefect work pool to use.")
@click.option(
    "--shards",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Split the feed list into this many shards (by URL hash), one deployment each.",
)
@click.option(
    "--image",
    default=None,
    metavar="IMAGE",
    help="Container image for Docker or Kubernetes pools (e.g. one built from "
    "docker/Dockerfile). Process pools need none.",
)
@fail_cleanly
def deploy(settings: Settings, work_pool: str, shards: int, image: str | None) -> None:
    """Register the schedules on a Prefect work pool, with the feeds split into shards.

    Creates one monitor deployment per shard (every [schedule] monitor_every_minutes)
    and one digest deployment, on an existing work pool of the Prefect server named by
    PREFECT_API_URL. Then start workers, here or on other machines with silkwatch
    installed: prefect worker start --pool NAME. See docs/scaling.md.
    """
    if not os.environ.get("PREFECT_API_URL"):
        raise click.ClickException(
            "set PREFECT_API_URL to your Prefect server's API (deployments registered on "
            "a temporary server would vanish when this command exits)"
        )
    prepare_prefect_env()
    from flows.pool import deploy_to_work_pool, shard_deployment_name

    config_path = settings.config_file
    deploy_to_work_pool(
        settings.schedule, config_path, work_pool=work_pool, shards=shards, image=image
    )
    names = [shard_deployment_name(i, shards) for i in range(shards)]
    click.echo(
        f"registered on work pool {work_pool!r}: monitor/{', monitor/'.join(names)} "
        f"(every {settings.schedule.monitor_every_minutes} min) and digest/silkwatch-digest "
        f"({settings.schedule.digest_at} {settings.schedule.timezone}); config "
        f"{config_path or 'built-in defaults'}."
    )
    click.echo(f"Start workers with: prefect worker start --pool {work_pool}")


def register(cli: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    cli.add_command(demo)  # silkwatch/cli/demo.py
    cli.add_command(serve)
    cli.add_command(export)
    cli.add_command(backfill)
    cli.add_command(backup)
    cli.add_command(deploy)
