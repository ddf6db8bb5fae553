"""Showing paths to people: short, and easy to copy into the next command."""

from __future__ import annotations

from pathlib import Path

__all__ = ["shown"]


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
