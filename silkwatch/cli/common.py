"""Options and helpers shared by every command."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from silkwatch.config import Settings, load_settings
from silkwatch.errors import SilkwatchError

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    """Add ``--config FILE`` and pass the loaded ``Settings`` as ``settings``.

    A bad configuration stops the command before any work, with the key and file named.
    """

    @click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False),
        envvar="SILKWATCH_CONFIG",
        show_envvar=True,
        help="TOML configuration file (default: built-in defaults).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, config_path: str | None, **kwargs: Any) -> Any:
        try:
            settings = load_settings(config_path)
        except SilkwatchError as exc:
            raise click.ClickException(str(exc)) from None
        return func(*args, settings=settings, **kwargs)

    return wrapper  # type: ignore[return-value]


def format_option(*choices: str, default: str = "table") -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=default,
        show_default=True,
        help="Output format.",
    )


def progress_bar(indent: str = "") -> Any:
    """A rich progress bar on stderr, shown only on a terminal and erased when done.

    Scheduled and piped runs get no bar (a log full of redraws helps nobody); the summary
    line that follows is the record.
    """
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        indent + "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not sys.stderr.isatty(),
        transient=True,
    )


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw]?)\s*$", re.IGNORECASE)
_HOURS_PER_UNIT = {"m": 1 / 60, "h": 1.0, "": 1.0, "d": 24.0, "w": 168.0}


def parse_hours(value: str) -> float:
    """``90m``, ``24h``, ``2d``, ``1w`` or a plain number of hours, as hours."""
    match = _AGE.match(value)
    if not match or float(match.group(1)) <= 0:
        raise click.BadParameter(f"expected a duration like 24h, 90m or 2d, got {value!r}")
    return float(match.group(1)) * _HOURS_PER_UNIT[match.group(2).lower()]


class DurationType(click.ParamType):
    """A period ending now (``--since 24h`` of the digest), as hours."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, float):
            return value
        try:
            return parse_hours(str(value))
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)


class SinceType(click.ParamType):
    """``24h``, ``7d``, ``30m``, ``2w`` before now, or an ISO date/time (UTC if no zone)."""

    name = "DATE|AGE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, datetime):
            return value
        text = str(value)
        age = _AGE.match(text)
        if age and age.group(2):  # a bare number would be ambiguous with a year
            return datetime.now(UTC) - timedelta(hours=parse_hours(text))
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            self.fail(f"{text!r} is neither an age like 24h/7d nor an ISO date", param, ctx)
        return when if when.tzinfo else when.replace(tzinfo=UTC)


def fail_cleanly(func: F) -> F:
    """Turn our typed errors into a one-line message and exit status 1, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SilkwatchError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


__all__ = [
    "DurationType",
    "Settings",
    "SinceType",
    "config_option",
    "fail_cleanly",
    "format_option",
    "parse_hours",
    "prepare_prefect_env",
    "progress_bar",
]


def prepare_prefect_env(environ: dict[str, str] | None = None) -> None:
    """Defaults for running flows from the CLI without a Prefect server.

    Set before prefect is imported; anything the user already set wins. Offline machines
    otherwise log a telemetry error per run, and Prefect's INFO lines would bury our
    progress bar (they are still stored with the flow run).
    """
    import os

    env = os.environ if environ is None else environ
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    env.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    env.setdefault("HF_HUB_OFFLINE", "1")
