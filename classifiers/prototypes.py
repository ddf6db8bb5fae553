"""Per-theme reference points built from the theme definitions: prototypes and a fitted head.

For each theme the positives are its example sentences; the negatives are its own
counter-examples, every *other* theme's examples (news that is on-topic for the analysts but
about something else is the hardest kind of near miss) and a built-in set of everyday news
sentences (``background.toml``). A sentence listed under two themes is positive for both.
A user theme added in TOML gets the same treatment, with no code and no training data beyond
its own sentences.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from classifiers.head import LogisticHead, fit_logistic
from classifiers.model import Encoder
from silkwatch.config import Theme

__all__ = ["ThemeIndex", "build_theme_indexes", "load_background"]


@dataclass(frozen=True)
class ThemeIndex:
    """Everything needed to score one theme, computed once per model and theme version."""

    theme: Theme
    examples: np.ndarray  # (n_examples, dim), unit rows, same order as theme.examples
    negatives: np.ndarray  # (n_negatives, dim), unit rows
    head: LogisticHead


def load_background() -> tuple[str, ...]:
    """The built-in everyday-news sentences that no theme should match."""
    text = resources.files("classifiers").joinpath("background.toml").read_text("utf-8")
    return tuple(tomllib.loads(text)["sentences"])


def build_theme_indexes(
    themes: Sequence[Theme],
    encoder: Encoder,
    *,
    background: Sequence[str],
    batch_size: int = 64,
    max_tokens: int = 128,
    l2: float = 1e-3,
) -> tuple[ThemeIndex, ...]:
    """Embed every theme's sentences once and fit one head per theme."""
    texts: list[str] = list(background)
    spans: dict[str, tuple[slice, slice]] = {}
    for theme in themes:
        start = len(texts)
        texts.extend(theme.examples)
        middle = len(texts)
        texts.extend(theme.counter_examples)
        spans[theme.name] = (slice(start, middle), slice(middle, len(texts)))
    vectors = encoder.encode(texts, batch_size=batch_size, max_tokens=max_tokens)
    bg = vectors[: len(background)]
    indexes = []
    for theme in themes:
        own, counter = spans[theme.name]
        # Another theme's example is a negative here unless this theme lists it too: a
        # sentence written under two themes (a Chinese-built safe city in Central Asia)
        # belongs to both.
        mine = set(theme.examples)
        others = [
            vectors[spans[t.name][0]][[i for i, s in enumerate(t.examples) if s not in mine]]
            for t in themes
            if t.name != theme.name
        ]
        positives = vectors[own]
        negatives = np.vstack([vectors[counter], bg, *others])
        x = np.vstack([positives, negatives])
        y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
        indexes.append(
            ThemeIndex(
                theme=theme,
                examples=positives,
                negatives=negatives,
                head=fit_logistic(x, y, l2=l2),
            )
        )
    return tuple(indexes)
