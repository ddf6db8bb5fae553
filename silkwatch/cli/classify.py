"""CLI commands for the theme classifier: classify, eval, themes, reclassify.

The model (torch + transformers, ~5 s to import) is loaded inside the commands that score,
never when the CLI starts; ``themes`` needs no model at all.
"""

from __future__ import annotations

import json
from datetime import datetime

import click

from silkwatch.cli.common import (
    SinceType,
    config_option,
    fail_cleanly,
    format_option,
    progress_bar,
)
from silkwatch.config import Settings


def _short(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command("classify")
@click.argument("texts", nargs=-1)
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="JSONL file with id, title, summary per line ('-' for stdin).",
)
@config_option
@format_option("table", "jsonl")
@fail_cleanly
def classify_cmd(
    settings: Settings, texts: tuple[str, ...], input_path: str | None, fmt: str
) -> None:
    """Score TEXT arguments or a JSONL file against the themes (no database needed).

    \b
    Examples:
      silkwatch classify "Tashkent signs a safe city deal with a Chinese vendor"
      silkwatch classify --input items.jsonl --format jsonl > scored.jsonl
    """
    from classifiers.classifier import get_classifier
    from classifiers.evaluate import parse_items_jsonl, read_items_jsonl
    from classifiers.text import TextItem

    if bool(texts) == bool(input_path):
        raise click.UsageError("give either TEXT arguments or --input FILE.jsonl")
    if input_path == "-":
        stdin = click.get_text_stream("stdin")
        rows = parse_items_jsonl(stdin.read().splitlines(), source="<stdin>")
    elif input_path:
        rows = read_items_jsonl(input_path)
    else:
        rows = [(TextItem(str(i), t), {"id": str(i), "title": t}) for i, t in enumerate(texts, 1)]
    classifier = get_classifier(settings)
    results = classifier.score([item for item, _ in rows])
    if fmt == "jsonl":
        for (_, obj), res in zip(rows, results, strict=True):
            out = dict(obj)
            out["scores"] = {s.theme: s.score for s in res.scores}
            out["matches"] = [s.theme for s in res.matches]
            out["evidence"] = {s.theme: dict(s.evidence) for s in res.matches}
            click.echo(json.dumps(out, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    table.add_column("id")
    table.add_column("title")
    for name in classifier.theme_names:
        table.add_column(name, justify="right")
    table.add_column("matches")
    for (item, _), res in zip(rows, results, strict=True):
        cells = [
            f"[bold]{s.score:.2f}[/bold]" if s.matched else f"{s.score:.2f}" for s in res.scores
        ]
        table.add_row(
            item.item_id, _short(item.title), *cells, ", ".join(s.theme for s in res.matches) or "-"
        )
    Console().print(table)


@click.command("eval")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Labelled JSONL: id, title, summary, labels.",
)
@config_option
@format_option("table", "json")
@fail_cleanly
def eval_cmd(settings: Settings, data_path: str, fmt: str) -> None:
    """Precision, recall and F1 per theme, and macro-F1, on a labelled JSONL file."""
    from classifiers.classifier import get_classifier
    from classifiers.evaluate import evaluate, load_labeled

    labeled = load_labeled(data_path)
    classifier = get_classifier(settings)
    results = classifier.score([lab.item for lab in labeled])
    report = evaluate(labeled, results, classifier.theme_names)
    if fmt == "json":
        click.echo(json.dumps(report))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{report['items']} items, model {classifier.model}, "
        f"themes {classifier.themes_version}"
    )
    for col in ("theme", "precision", "recall", "f1", "support"):
        table.add_column(col, justify="left" if col == "theme" else "right")
    for name, row in report["themes"].items():
        table.add_row(
            name,
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    table.add_row("macro", "", "", f"{report['macro_f1']:.3f}", "", style="bold")
    Console().print(table)


@click.command("themes")
@config_option
@format_option("table", "json")
@fail_cleanly
def themes_cmd(settings: Settings, fmt: str) -> None:
    """List the active themes and the version hash stored with their scores."""
    version = settings.themes_version()
    rows = [
        {
            "name": t.name,
            "label": t.label,
            "threshold": t.threshold,
            "examples": len(t.examples),
            "counter_examples": len(t.counter_examples),
            "keywords": len(t.keywords),
            "version": version,
        }
        for t in settings.themes
    ]
    if fmt == "json":
        click.echo(json.dumps(rows))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"themes version {version} ({settings.source})")
    for col in ("name", "label", "threshold", "examples", "counter_examples", "keywords"):
        table.add_column(col, justify="right" if col not in ("name", "label") else "left")
    for r in rows:
        table.add_row(
            r["name"],
            r["label"],
            f"{r['threshold']:.2f}",
            str(r["examples"]),
            str(r["counter_examples"]),
            str(r["keywords"]),
        )
    Console().print(table)


@click.command("reclassify")
@click.option(
    "--since",
    type=SinceType(),
    default=None,
    help="Only items stored since then: an age (24h, 7d) or an ISO date. Default: all.",
)
@config_option
@fail_cleanly
def reclassify_cmd(settings: Settings, since: datetime | None) -> None:
    """Rescore stored items under the current model and themes.

    Run it after changing the model or a theme. Scores from earlier versions stay in
    item_themes (query them by themes_version); this version's rows are replaced.
    """
    from flows.classify import reclassify

    with progress_bar() as bar:
        job = bar.add_task("scoring items", total=None)
        result = reclassify(
            settings,
            since=since,
            progress=lambda done, total: bar.update(job, completed=done, total=total),
        )
    click.echo(
        f"{result.scored} items scored, {result.matched} theme matches "
        f"(model {result.model}, themes {result.themes_version})"
    )


def register(cli: click.Group) -> None:
    """Attach this module's commands to the top-level group."""
    for command in (classify_cmd, eval_cmd, themes_cmd, reclassify_cmd):
        cli.add_command(command)
