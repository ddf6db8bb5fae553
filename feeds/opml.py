"""Read OPML subscription lists, the format every feed reader exports.

Feed readers nest feeds in folders (``<outline text="Asia"><outline xmlUrl=…/></outline>``);
the folder names become the feed's tags, so an analyst's grouping survives the import.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pydantic import ValidationError

from silkwatch.config import FeedSettings
from silkwatch.errors import ConfigError

__all__ = ["read_opml"]


def read_opml(path: Path) -> list[FeedSettings]:
    """Every feed (``outline`` with ``xmlUrl``) in the OPML file, in document order.

    Duplicate URLs keep their first occurrence. ``feed://`` URLs become ``http://``.
    Raises ``ConfigError`` naming the file when it cannot be read, is not OPML, or lists a
    feed URL that is not http(s); an OPML file with no feeds gives an empty list.
    """
    source = str(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise ConfigError("OPML file not found", source=source) from None
    except (OSError, ET.ParseError) as exc:
        raise ConfigError(f"not readable as OPML: {exc}", source=source) from None
    if _local(root.tag) != "opml":
        raise ConfigError(f"not an OPML file (root element <{root.tag}>)", source=source)
    body = next((el for el in root if _local(el.tag) == "body"), None)
    feeds: list[FeedSettings] = []
    seen: set[str] = set()
    if body is not None:
        _walk(body, (), feeds, seen, source)
    return feeds


def _walk(
    parent: ET.Element,
    folders: tuple[str, ...],
    feeds: list[FeedSettings],
    seen: set[str],
    source: str,
) -> None:
    for outline in parent:
        if _local(outline.tag) != "outline":
            continue
        attrs = {k.lower(): v.strip() for k, v in outline.attrib.items()}
        label = attrs.get("title") or attrs.get("text") or None
        url = attrs.get("xmlurl")
        if url:
            if url.lower().startswith("feed://"):
                url = "http://" + url[len("feed://") :]
            categories = [c.strip().strip("/") for c in attrs.get("category", "").split(",")]
            tags = tuple(dict.fromkeys([*folders, *(c for c in categories if c)]))
            try:
                feed = FeedSettings(url=url, name=label, tags=tags)
            except ValidationError as exc:
                reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise ConfigError(
                    f"outline {label or url!r}: {reason}", key="xmlUrl", source=source
                ) from None
            if feed.url not in seen:
                seen.add(feed.url)
                feeds.append(feed)
        _walk(outline, (*folders, label) if label and not url else folders, feeds, seen, source)


def _local(tag: str) -> str:
    """Element name without a namespace: some exporters put OPML in one."""
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""
