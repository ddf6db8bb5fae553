"""The ``silkwatch`` command line: a thin layer over the flows and library functions.

Each command family lives in its own module; heavy imports (prefect, torch, transformers)
happen inside the command functions so ``silkwatch --help`` and ``silkwatch sql`` stay fast.
"""

from __future__ import annotations

import click

from silkwatch.cli import alerts, classify, ingest, lake, ops


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="silkwatch")
def cli() -> None:
    """silkwatch: monitor news feeds for Digital Silk Road themes.

    Polls feeds into DuckDB, scores items against analyst themes, sends alerts
    and a daily digest. Start with `silkwatch demo` (no network needed).
    """


for module in (ingest, classify, alerts, ops, lake):
    module.register(cli)

__all__ = ["cli"]
