"""The classifier as the rest of silkwatch sees it: settings in, theme scores out.

Loading the model and embedding the theme sentences takes seconds, so both are done once per
process and reused for every batch (keyed by model and theme version: a config reload with
new examples gets a fresh index, an unchanged one does not pay again).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from classifiers.model import Encoder, load_encoder, model_name, model_ref
from classifiers.prototypes import ThemeIndex, build_theme_indexes, load_background
from classifiers.scoring import DEFAULT_PARAMS, ItemResult, ScoringParams, score_items
from classifiers.text import TextItem
from silkwatch.config import Settings
from silkwatch.errors import ConfigError

__all__ = ["Classifier", "get_classifier"]

_INDEXES: dict[tuple[str, str, int], tuple[ThemeIndex, ...]] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Classifier:
    """A loaded model plus the theme indexes for one configuration."""

    encoder: Encoder
    indexes: tuple[ThemeIndex, ...]
    model: str  # stored in item_themes.model
    themes_version: str  # stored in item_themes.themes_version
    batch_size: int = 64
    max_tokens: int = 128
    params: ScoringParams = DEFAULT_PARAMS

    @property
    def theme_names(self) -> tuple[str, ...]:
        return tuple(ix.theme.name for ix in self.indexes)

    def score(self, items: Sequence[TextItem]) -> list[ItemResult]:
        """Scores for every item and theme, in input order."""
        return score_items(
            items,
            self.indexes,
            self.encoder,
            batch_size=self.batch_size,
            max_tokens=self.max_tokens,
            params=self.params,
        )


def get_classifier(settings: Settings, *, params: ScoringParams = DEFAULT_PARAMS) -> Classifier:
    """The classifier for ``settings``: model loaded once per process, themes indexed once.

    Raises ``ModelLoadError`` naming the model path when it cannot be loaded, and
    ``ConfigError`` when no theme is configured (nothing to score against).
    """
    if not settings.themes:
        raise ConfigError("no themes configured", key="themes", source=settings.source)
    cfg = settings.classifier
    ref = model_ref(cfg.model)
    encoder = load_encoder(ref)
    version = settings.themes_version()
    key = (ref, version, cfg.max_tokens)
    with _LOCK:
        indexes = _INDEXES.get(key)
        if indexes is None:
            indexes = build_theme_indexes(
                settings.themes,
                encoder,
                background=load_background(),
                batch_size=cfg.batch_size,
                max_tokens=cfg.max_tokens,
            )
            _INDEXES[key] = indexes
    return Classifier(
        encoder=encoder,
        indexes=indexes,
        model=model_name(cfg.model),
        themes_version=version,
        batch_size=cfg.batch_size,
        max_tokens=cfg.max_tokens,
        params=params,
    )
