"""CLI commands: alerts and the digest."""

from __future__ import annotations

import click

from silkwatch.cli.common import (
    DurationType,
    config_option,
    fail_cleanly,
    prepare_prefect_env,
)
from silkwatch.config import Settings


@click.command()
@config_option
@click.option(
    "--since",
    "since_hours",
    type=DurationType(),
    default=None,
    help="Period to cover, ending now: 24h, 90m, 2d (default: digest.since_hours).",
)
@click.option(
    "--to",
    "to",
    multiple=True,
    metavar="ADDRESS",
    help="Send to this address instead of the configured recipients (repeatable).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    metavar="FILE.html",
    help="Write the HTML digest to FILE instead of sending it.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Send even if this period's digest was already sent to a recipient.",
)
@fail_cleanly
def digest(
    settings: Settings,
    since_hours: float | None,
    to: tuple[str, ...],
    output: str | None,
    force: bool,
) -> None:
    """Send the digest of recent matches: one email per recipient, per theme, best first.

    Without an [email] server the messages are written as .eml files into the outbox
    folder beside the database. A period already sent to a recipient is skipped
    unless --force. Exits 1 if any recipient could not be served.
    """
    prepare_prefect_env()
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.digest import digest as digest_flow

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        result = digest_flow(
            settings=settings,
            since_hours=since_hours,
            to=list(to) or None,
            output=output,
            force=force,
        )
    period = f"{result.period_start:%Y-%m-%d %H:%M} to {result.period_end:%Y-%m-%d %H:%M} UTC"
    click.echo(f"digest: {result.items} matches, period {period}")
    if result.output:
        click.echo(f"  written to {result.output}")
    for path in result.outbox:
        click.echo(f"  no [email] configured: written to {path}")
    for recipient in result.sent:
        if not result.outbox:
            click.echo(f"  sent to {recipient}")
    for recipient in result.skipped:
        click.echo(f"  already sent to {recipient} for this period (use --force to send again)")
    for recipient, error in result.failed:
        click.echo(f"  FAILED for {recipient}: {error}", err=True)
    if result.failed:
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    cli.add_command(digest)
