"""Quoting names and strings into SQL text, for the statements DuckDB cannot parameterise.

``ATTACH`` and ``COPY … TO`` take their file name as a literal, not a ``?`` parameter, in
the DuckDB releases we support, so paths given by users are quoted here, in one place.
"""

from __future__ import annotations

__all__ = ["quote_ident", "quote_literal"]


def quote_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """``value`` as a single-quoted SQL string literal."""
    if "\x00" in value:
        raise ValueError("a SQL string cannot contain a NUL character")
    return "'" + value.replace("'", "''") + "'"
