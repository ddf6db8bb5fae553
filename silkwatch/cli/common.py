"""Options and helpers shared by every command."""

from __future__ import annotations

import functools
from collections.abc import Callable
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
    "Settings",
    "config_option",
    "fail_cleanly",
    "format_option",
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
