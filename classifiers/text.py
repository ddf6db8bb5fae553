"""Turning a news item into the pieces the classifier embeds, and finding evidence terms.

An item is scored sentence by sentence (the title, then each sentence of the summary) because
feeds often bury the one relevant sentence after a generic lede: averaging it with the rest
dilutes exactly the signal we want.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TextItem", "item_segments", "item_text", "keyword_hits", "normalise_space"]

# A sentence ends at . ! or ? followed by space and something that starts a sentence.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“‘(\[]?[A-Z0-9])")
_SPACE = re.compile(r"\s+")
# Feed artefacts that are not words: backslash line breaks, HTML entities left as text.
_ARTEFACTS = re.compile(r"\\|&(?:lt|gt|amp|quot|#\d+);|\bquot;")

#: Summary sentences shorter than this are glued to the previous one: "Read more." or a
#: dateline alone says nothing about a theme.
MIN_SEGMENT_CHARS = 25


@dataclass(frozen=True)
class TextItem:
    """The part of a stored item the classifier reads."""

    item_id: str
    title: str
    summary: str = ""


def normalise_space(text: str) -> str:
    """Collapse runs of whitespace and drop markup left over from feeds."""
    return _SPACE.sub(" ", _ARTEFACTS.sub(" ", text or "")).strip()


def item_text(title: str, summary: str) -> str:
    """Title and summary as one passage (what keyword evidence is searched in)."""
    title, summary = normalise_space(title), normalise_space(summary)
    if not summary or summary == title:
        return title
    if not title:
        return summary
    if title[-1] not in ".!?:":
        title += "."
    return f"{title} {summary}"


def item_segments(title: str, summary: str) -> list[str]:
    """The title followed by the summary's sentences, each one scored on its own."""
    title, summary = normalise_space(title), normalise_space(summary)
    segments = [title] if title else []
    if summary and summary != title:
        for sentence in _SENTENCE_BREAK.split(summary):
            sentence = sentence.strip()
            if not sentence:
                continue
            if len(sentence) < MIN_SEGMENT_CHARS and len(segments) > (1 if title else 0):
                segments[-1] = f"{segments[-1]} {sentence}"
            else:
                segments.append(sentence)
    return segments or [""]


@functools.lru_cache(maxsize=4096)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Whole-word pattern; a trailing ``*`` matches any ending (``Kazakh*``).

    Keywords written in capitals (``SCO``, ``CAC``) are acronyms and match case-sensitively,
    so "sco" in "Scottish" or "cac" in "cacao" never counts as evidence.
    """
    word = keyword.strip()
    prefix = word.endswith("*")
    word = word.rstrip("*")
    body = r"\s+".join(re.escape(part) for part in word.split())
    tail = r"\w*" if prefix else r"(?!\w)"
    flags = 0 if word.isupper() else re.IGNORECASE
    return re.compile(rf"(?<!\w){body}{tail}", flags)


def keyword_hits(text: str, keywords: Sequence[str]) -> list[str]:
    """The keywords (as configured) that occur in ``text``, in configuration order."""
    return [k for k in keywords if k.strip("* ") and _keyword_pattern(k).search(text)]
