"""CLI commands for running silkwatch: demo, serve, export, backup, backfill."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from silkwatch.cli.classify import SinceType
from silkwatch.cli.common import config_option, fail_cleanly, prepare_prefect_env
from silkwatch.config import Settings

DEMO_QUERIES = (
    (
        "the strongest matches, best first (the matches view: docs/tables.md)",
        "SELECT theme, round(score, 2) AS score, source, title FROM matches "
        "ORDER BY score DESC LIMIT 10",
    ),
    (
        "near misses: scored, but under the theme's threshold",
        "SELECT s.theme, round(s.score, 2) AS score, i.title FROM latest_scores s "
        "JOIN items i USING (item_id) WHERE NOT s.matched ORDER BY s.score DESC LIMIT 8",
    ),
    (
        "what each feed delivered",
        "SELECT feed_url, status, http_status, items_seen, items_new, elapsed_ms "
        "FROM fetch_log ORDER BY id",
    ),
)


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is inside it (shorter to copy)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _step(n: int, total: int, text: str) -> None:
    click.secho(f"[{n}/{total}] ", fg="cyan", nl=False, err=True)
    click.echo(text, err=True)


def _demo_counts(settings: Settings) -> dict[str, object]:
    from warehouse.query import run_query

    db, wait = settings.storage.database, settings.storage.busy_timeout_seconds

    def scalar(sql: str) -> int:
        return int(run_query(db, sql, busy_timeout=wait).rows[0][0])

    per_theme = run_query(
        db,
        "SELECT theme, count(*) FILTER (WHERE matched) FROM item_themes GROUP BY theme "
        "ORDER BY theme",
        busy_timeout=wait,
    ).rows
    return {
        "items": scalar("SELECT count(*) FROM items"),
        "stories": scalar("SELECT count(DISTINCT coalesce(url, item_id)) FROM items"),
        "matches": {str(theme): int(n) for theme, n in per_theme},
        "alerted": scalar("SELECT count(DISTINCT item_id) FROM alerts_sent WHERE status = 'sent'"),
        "messages": scalar(
            "SELECT count(DISTINCT message_id) FROM alerts_sent WHERE status = 'sent'"
        ),
    }


def _subject(path: Path) -> str:
    """The decoded Subject of an .eml file, to tell the alert from the digest at a glance."""
    from email import policy
    from email.parser import BytesHeaderParser

    with path.open("rb") as fh:
        return str(BytesHeaderParser(policy=policy.default).parse(fh)["Subject"] or "")


@click.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("silkwatch-demo"),
    show_default=True,
    help="Folder for the demo's config, database and outbox (must not exist yet).",
)
@click.option(
    "--replace", is_flag=True, help="Delete an earlier demo's folder first and start over."
)
@fail_cleanly
def demo(folder: Path, replace: bool) -> None:
    """Run the whole pipeline on bundled sample feeds: no network, no configuration.

    Serves four sample outlets from 127.0.0.1, writes a config into FOLDER, runs one
    monitoring cycle into a fresh DuckDB there (fetch, store, classify, alert), writes the
    digest, and prints what happened, the files to open and queries to try. With no [email]
    section, alerts and the digest are written as .eml files to FOLDER/outbox/.
    """
    prepare_prefect_env()
    from silkwatch.config import load_settings
    from silkwatch.demo import DEMO_FEEDS, DemoDirError, DemoFeedServer, create_demo_dir

    started = time.perf_counter()
    steps = 4
    with DemoFeedServer() as server:
        _step(1, steps, f"serving {len(DEMO_FEEDS)} sample outlets at {server.base_url}")
        try:
            config = create_demo_dir(folder, server.url_for, replace=replace)
        except DemoDirError as exc:
            raise click.ClickException(str(exc)) from None
        # environ={}: the demo shows the defaults, whatever SILKWATCH_* says in this shell
        settings = load_settings(config, environ={})
        _step(2, steps, f"wrote {_shown(config)}")
        _step(
            3,
            steps,
            "running one monitoring cycle: fetch, store, classify, alert "
            "(the first run starts Prefect and loads the model; allow a minute)",
        )
        summary = _run_monitor(settings)
    click.echo(
        f"      feeds: {summary.feeds_ok} ok, {summary.feeds_failed} failed; "
        f"{summary.new_items} new items, {summary.items_scored} scores, "
        f"{summary.matches} theme matches, {summary.alerts_sent} alerts sent",
        err=True,
    )
    _step(4, steps, f"writing the digest of the last {settings.digest.since_hours:g} hours")
    _run_digest(settings)

    counts = _demo_counts(settings)
    outbox = settings.storage.outbox
    mails = sorted(outbox.glob("*.eml")) if outbox.is_dir() else []
    matches: dict[str, int] = counts["matches"]  # type: ignore[assignment]
    click.echo("")
    click.secho(f"Demo finished in {time.perf_counter() - started:.0f} s.", bold=True)
    click.echo(
        f"  {counts['items']} items stored ({counts['stories']} distinct stories: one was "
        f"syndicated by two outlets)"
    )
    for theme, n in matches.items():
        click.echo(f"  {theme}: {n} matching items")
    click.echo(
        f"  {counts['alerted']} items alerted in {counts['messages']} alert message(s); "
        f"{len(mails)} emails in the outbox (alerts and the digest)"
    )
    click.echo("")
    click.secho("Open:", bold=True)
    click.echo(f"  config    {_shown(config)}")
    click.echo(f"  database  {_shown(settings.storage.database)}")
    click.echo(f"  outbox    {_shown(outbox)}/  (.eml files open in any mail client)")
    for mail in mails:
        click.echo(f"            {mail.name}  {_subject(mail)}")
    click.echo("")
    click.secho("Try:", bold=True)
    for why, sql in DEMO_QUERIES:
        click.echo(f"  # {why}")
        click.echo(f"  silkwatch sql --config {_quote(_shown(config))} {_quote(sql)}")
    click.echo("")
    click.echo(
        "The sample feeds were served by this command and are gone now; point a config at "
        "real feeds (see docs/configuration.md) and use `silkwatch run` or `silkwatch serve`."
    )


def _run_monitor(settings: Settings):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from flows.monitor import monitor

    with Progress(
        "      [progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not sys.stderr.isatty(),
        transient=True,
    ) as bar:
        job = bar.add_task("fetching feeds", total=len(settings.feeds))
        return monitor(settings=settings, progress=lambda _outcome: bar.advance(job))


def _run_digest(settings: Settings) -> None:
    from flows.digest import digest

    digest(settings=settings)


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

    config_path = None if settings.source == "built-in defaults" else settings.source

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
    type=click.Choice(["items", "item_themes", "fetch_log", "feeds", "alerts_sent",
                       "digests_sent"]),
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


def register(cli: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    cli.add_command(demo)
    cli.add_command(serve)
    cli.add_command(export)
    cli.add_command(backfill)
    cli.add_command(backup)
