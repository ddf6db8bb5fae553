"""Precision, recall and F1 per theme on a labelled JSONL file (``silkwatch eval``).

The file holds one object per line with ``id``, ``title``, ``summary`` and ``labels`` (a list
of theme names). Themes absent from the configuration are ignored; configured themes absent
from every label still count (support 0) so a new theme's false alarms show up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from classifiers.scoring import ItemResult
from classifiers.text import TextItem
from silkwatch.errors import ConfigError

__all__ = [
    "LabeledItem",
    "evaluate",
    "load_labeled",
    "parse_items_jsonl",
    "read_items_jsonl",
]


@dataclass(frozen=True)
class LabeledItem:
    item: TextItem
    labels: frozenset[str]


def read_items_jsonl(path: str | Path) -> list[tuple[TextItem, dict]]:
    """Read ``id``/``title``/``summary`` lines; the raw object comes back too for output."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read input: {exc.strerror or exc}", source=str(p)) from None
    return parse_items_jsonl(lines, source=str(p))


def parse_items_jsonl(lines: Iterable[str], *, source: str) -> list[tuple[TextItem, dict]]:
    """Parse JSONL lines into items; errors name the line and ``source``."""
    rows: list[tuple[TextItem, dict]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"line {number} is not JSON: {exc.msg}", source=source) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("title", ""), str):
            raise ConfigError(f"line {number}: expected an object with a title", source=source)
        item_id = str(obj.get("id", number))
        rows.append((TextItem(item_id, obj.get("title") or "", obj.get("summary") or ""), obj))
    return rows


def load_labeled(path: str | Path) -> list[LabeledItem]:
    """Read a labelled JSONL file (each line needs ``labels``)."""
    out = []
    for item, obj in read_items_jsonl(path):
        labels = obj.get("labels")
        if not isinstance(labels, list):
            raise ConfigError(f"item {item.item_id!r} has no 'labels' list", source=str(path))
        out.append(LabeledItem(item, frozenset(map(str, labels))))
    return out


def evaluate(
    labeled: Sequence[LabeledItem], results: Sequence[ItemResult], themes: Sequence[str]
) -> dict:
    """``{"items": n, "macro_f1": x, "themes": {name: {precision, recall, f1, support}}}``."""
    report: dict[str, dict[str, float | int]] = {}
    for theme in themes:
        tp = fp = fn = 0
        for lab, res in zip(labeled, results, strict=True):
            predicted = any(s.theme == theme and s.matched for s in res.scores)
            actual = theme in lab.labels
            tp += predicted and actual
            fp += predicted and not actual
            fn += actual and not predicted
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[theme] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": tp + fn,
        }
    macro = sum(r["f1"] for r in report.values()) / len(report) if report else 0.0
    return {"items": len(labeled), "macro_f1": round(macro, 4), "themes": report}
