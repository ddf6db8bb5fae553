"""Create the demo's folder: a fresh config whose feeds point at the loopback demo server."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

from silkwatch.demo.server import DEMO_FEEDS, DemoFeed

__all__ = ["CONFIG_NAME", "MARKER_NAME", "DemoDirError", "create_demo_dir"]

CONFIG_NAME = "silkwatch.toml"
#: a file that says "silkwatch demo made this folder", so --replace never deletes anything else
MARKER_NAME = ".silkwatch-demo"


class DemoDirError(Exception):
    """The demo folder exists and cannot be used as it is; the message says what to do."""

    def __init__(self, path: Path, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


def _feeds_toml(feeds: Sequence[DemoFeed], url_for: Callable[[str], str]) -> str:
    blocks = []
    for feed in feeds:
        blocks.append(
            "\n".join(
                [
                    "[[feeds]]",
                    f"url = {json.dumps(url_for(feed.file))}",
                    f"name = {json.dumps(feed.name)}",
                    f"tags = {json.dumps(list(feed.tags))}",
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"


def create_demo_dir(
    folder: Path,
    url_for: Callable[[str], str],
    *,
    replace: bool = False,
    feeds: Sequence[DemoFeed] = DEMO_FEEDS,
) -> Path:
    """Make ``folder`` with a demo config and return the config's path.

    A folder that exists and is not empty is refused, because the demo must start from a
    fresh database to show what one cycle does. With ``replace=True`` a folder that an
    earlier demo made (it holds the marker file) is deleted first; any other folder is
    still refused so a typo in ``--dir`` can never delete someone's files.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DemoDirError(folder, "exists and is not a folder; choose another --dir")
    if folder.is_dir() and any(folder.iterdir()):
        if not replace:
            raise DemoDirError(
                folder,
                "already exists and is not empty; use --replace to start the demo over "
                "or --dir to choose another folder",
            )
        if not (folder / MARKER_NAME).is_file():
            raise DemoDirError(
                folder,
                "was not made by `silkwatch demo` (no .silkwatch-demo marker), so --replace "
                "will not delete it; choose another --dir",
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER_NAME).write_text(
        "Made by `silkwatch demo`; `silkwatch demo --replace` may delete this folder.\n",
        encoding="utf-8",
    )
    template = resources.files("silkwatch.demo").joinpath("demo.toml").read_text("utf-8")
    config = folder / CONFIG_NAME
    config.write_text(template.rstrip() + "\n\n" + _feeds_toml(feeds, url_for), encoding="utf-8")
    return config
