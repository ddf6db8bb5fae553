"""One exception tree for silkwatch.

Every error names the resource at fault (feed URL, config key and file, model path,
alert channel) because the person reading it has to know *what* to fix, not just
that something broke. ``transient`` tells retry/backoff code whether trying again
later can help.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "AlertDeliveryError",
    "ConfigError",
    "DatabaseBusyError",
    "FeedError",
    "FetchError",
    "LakeError",
    "ModelLoadError",
    "ParseError",
    "RateLimitedError",
    "SilkwatchError",
    "StorageError",
]


class SilkwatchError(Exception):
    """Base of every error silkwatch raises on purpose."""


class ConfigError(SilkwatchError):
    """A setting is missing or invalid; names the key and the file (or env var) it came from."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None):
        self.message = message
        self.key = key
        self.source = source
        prefix = "".join(f"{part}: " for part in (source, key) if part)
        super().__init__(f"{prefix}{message}")


class FeedError(SilkwatchError):
    """Something went wrong with one feed. Recorded on the feed row, never fatal to a run."""

    #: short machine-readable kind, stored in ``feeds.last_status`` / ``fetch_log.status``
    kind = "error"

    def __init__(self, url: str, message: str, *, transient: bool = False):
        self.url = url
        self.message = message
        self.transient = transient
        super().__init__(f"{url}: {message}")


class FetchError(FeedError):
    """The feed could not be downloaded (network, HTTP status, size or redirect limits)."""

    kind = "fetch_error"

    def __init__(
        self,
        url: str,
        message: str,
        *,
        transient: bool = False,
        status_code: int | None = None,
    ):
        super().__init__(url, message, transient=transient)
        self.status_code = status_code


class RateLimitedError(FetchError):
    """The server said 429/503 with Retry-After: do not ask again before ``retry_at``."""

    kind = "rate_limited"

    def __init__(self, url: str, message: str, *, retry_at: datetime, status_code: int):
        super().__init__(url, message, transient=True, status_code=status_code)
        self.retry_at = retry_at


class ParseError(FeedError):
    """The bytes arrived but are not a feed we can read."""

    kind = "parse_error"


class ModelLoadError(SilkwatchError):
    """The classifier model could not be loaded from the configured path or name."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"cannot load model {path!r}: {message}")


class StorageError(SilkwatchError):
    """The DuckDB file cannot be opened or written."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


class DatabaseBusyError(StorageError):
    """Another silkwatch process holds the database for writing."""


class LakeError(StorageError):
    """The DuckLake catalog cannot be attached, read or written.

    ``path`` is the catalog as configured (``sqlite:…`` or ``postgres:…``) with any
    password removed, so the message can be logged and shown.
    """


class AlertDeliveryError(SilkwatchError):
    """An alert or digest could not be delivered on a channel.

    ``target`` names the channel's configured name (e.g. ``webhook:ops`` or the SMTP host),
    never a secret-bearing URL or password.
    """

    def __init__(self, channel: str, target: str, message: str, *, transient: bool = True):
        self.channel = channel
        self.target = target
        self.transient = transient
        super().__init__(f"{channel} ({target}): {message}")
