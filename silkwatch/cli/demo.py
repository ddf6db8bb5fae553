"""`silkwatch demo`: the whole pipeline on bundled sample feeds, offline, in about a minute.

Registered by silkwatch/cli/ops.py. The sample feeds, their loopback server and the demo
folder live in ``silkwatch.demo``; this module runs the real flows over them and reports.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import click

from silkwatch.cli.common import fail_cleanly, prepare_prefect_env, progress_bar
from silkwatch.cli.paths import shown
from silkwatch.config import Settings
from silkwatch.types import CycleSummary

__all__ = ["DEMO_QUERIES", "demo"]

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
        _step(2, steps, f"wrote {shown(config)}")
        _step(
            3,
            steps,
            "running one monitoring cycle: fetch, store, classify, alert "
            "(the first run starts Prefect and loads the model; allow a minute)",
        )
        summary = _run_monitor(settings)
    click.echo(
        f"      feeds: {summary.feeds_ok} ok, {summary.feeds_failed} failed; "
        f"{summary.new_items} new items, {summary.items_scored} scored, "
        f"{summary.matches} theme matches, {summary.alerts_sent} alert message(s) sent",
        err=True,
    )
    _step(4, steps, f"writing the digest of the last {settings.digest.since_hours:g} hours")
    _run_digest(settings)

    _report(settings, config, time.perf_counter() - started)


def _report(settings: Settings, config: Path, elapsed: float) -> None:
    """What the cycle left behind, the files to open, and queries to try next."""
    counts = _demo_counts(settings)
    outbox = settings.storage.outbox
    mails = sorted(outbox.glob("*.eml")) if outbox.is_dir() else []
    matches: dict[str, int] = counts["matches"]  # type: ignore[assignment]
    click.echo("")
    click.secho(f"Demo finished in {elapsed:.0f} s.", bold=True)
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
    click.echo(f"  config    {shown(config)}")
    click.echo(f"  database  {shown(settings.storage.database)}")
    click.echo(f"  outbox    {shown(outbox)}/  (.eml files open in any mail client)")
    for mail in mails:
        click.echo(f"            {mail.name}  {_subject(mail)}")
    click.echo("")
    click.secho("Try:", bold=True)
    for why, sql in DEMO_QUERIES:
        click.echo(f"  # {why}")
        click.echo(f"  silkwatch sql --config {shlex.quote(shown(config))} {shlex.quote(sql)}")
    click.echo("")
    click.echo(
        "The sample feeds were served by this command and are gone now; point a config at "
        "real feeds (see docs/configuration.md) and use `silkwatch run` or `silkwatch serve`."
    )


def _run_monitor(settings: Settings) -> CycleSummary:
    from flows.monitor import monitor

    with progress_bar(indent="      ") as bar:
        job = bar.add_task("fetching feeds", total=len(settings.feeds))
        return monitor(settings=settings, progress=lambda _outcome: bar.advance(job))


def _run_digest(settings: Settings) -> None:
    from flows.digest import digest

    digest(settings=settings)
