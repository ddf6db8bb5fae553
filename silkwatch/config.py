"""Configuration: one TOML file plus environment overrides, validated into one ``Settings``.

Where settings come from, lowest to highest priority:

1. the embedded defaults (``silkwatch/defaults.toml``), which carry the curated feed list
   and the three analyst themes;
2. the user's TOML file (``--config FILE``, else ``$SILKWATCH_CONFIG``);
3. environment variables ``SILKWATCH_<SECTION>__<KEY>`` for scalar keys,
   e.g. ``SILKWATCH_STORAGE__DATABASE=/data/sw.duckdb``.

A user file's ``[[feeds]]`` list replaces the default feeds; its ``[[themes]]`` are merged
with the built-in themes by ``name`` (unless ``[classifier] builtin_themes = false``).
Any unknown key or bad value fails at start-up with a ``ConfigError`` that names the key
and the file it came from: silently defaulting a typo hides the mistake until a feed
is missed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import time
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from silkwatch.errors import ConfigError

__all__ = [
    "AlertRule",
    "ClassifierSettings",
    "DigestSettings",
    "EmailSettings",
    "FeedSettings",
    "FetchSettings",
    "LakeSettings",
    "ScheduleSettings",
    "Settings",
    "StorageSettings",
    "Theme",
    "WebhookSettings",
    "load_settings",
]

ENV_PREFIX = "SILKWATCH_"
DEFAULT_SOURCE = "built-in defaults"
CONFIG_ENV = "SILKWATCH_CONFIG"
LAKE_CATALOG_KINDS = ("sqlite:", "postgres:")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Strict):
    database: Path = Field(
        Path("silkwatch.duckdb"),
        description="DuckDB file; relative paths are resolved "
        "against the config file's folder (or the working directory for defaults).",
    )
    busy_timeout_seconds: float = Field(
        10.0, ge=0, description="How long a command waits for another process's write to end."
    )

    @property
    def outbox(self) -> Path:
        """Where emails go as .eml files when no [email] server is configured."""
        return self.database.parent / "outbox"


class FetchSettings(_Strict):
    timeout_seconds: float = Field(30.0, gt=0, description="Total time allowed for one response.")
    connect_timeout_seconds: float = Field(10.0, gt=0)
    max_body_bytes: int = Field(
        20_000_000, gt=0, description="Hard cap on a feed body after decompression."
    )
    max_redirects: int = Field(5, ge=0)
    concurrency: int = Field(16, ge=1, description="Feeds fetched at once, in total.")
    per_host_concurrency: int = Field(2, ge=1, description="Feeds fetched at once from one host.")
    user_agent: str = "silkwatch/0.1 (+https://github.com/silkwatch/silkwatch; news monitor)"
    backoff_base_minutes: float = Field(
        5.0, gt=0, description="First wait after a failure; doubles with each failure in a row."
    )
    backoff_max_hours: float = Field(24.0, gt=0)


class FeedSettings(_Strict):
    url: str
    name: str | None = None
    tags: tuple[str, ...] = ()

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip()
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError(f"feed url must be http(s)://…, got {v!r}")
        return v


class Theme(_Strict):
    name: str = Field(description="Identifier stored in item_themes.theme, e.g. smart_cities.")
    label: str
    description: str
    examples: tuple[str, ...] = Field(description="Sentences that clearly belong to the theme.")
    counter_examples: tuple[str, ...] = Field((), description="Near misses that should NOT match.")
    keywords: tuple[str, ...] = Field(
        (), description="Evidence terms (case-insensitive) that support a match."
    )
    threshold: float = Field(0.5, ge=0, le=1)

    @field_validator("name")
    @classmethod
    def _identifier(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", v):
            raise ValueError(f"theme name must be lower_snake_case, got {v!r}")
        return v

    @field_validator("examples")
    @classmethod
    def _some_examples(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) < 1:
            raise ValueError("a theme needs at least one example sentence")
        return v


class ClassifierSettings(_Strict):
    model: str = Field(
        "", description="Local path or hub name; empty means the bundled all-MiniLM-L6-v2."
    )
    batch_size: int = Field(64, ge=1)
    max_tokens: int = Field(128, ge=8, le=512, description="Truncation of title + summary.")
    builtin_themes: bool = True


class AlertRule(_Strict):
    name: str
    themes: tuple[str, ...]
    min_score: float | None = Field(None, ge=0, le=1)
    feeds: tuple[str, ...] = Field((), description="Only items from these feed URLs or names.")
    tags: tuple[str, ...] = Field((), description="Only items from feeds with one of these tags.")
    keywords: tuple[str, ...] = Field((), description="Only items whose text has one of these.")
    channels: tuple[str, ...] = ("email",)

    @field_validator("themes")
    @classmethod
    def _nonempty(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("a rule needs at least one theme")
        return v


class AlertSettings(_Strict):
    rules: tuple[AlertRule, ...] = ()
    every_shard: bool = Field(
        False,
        description="Deliver from every shard, not only shard 0: for shards that each have "
        "their own database (the DuckLake setup).",
    )
    max_age_hours: float = Field(
        48.0,
        gt=0,
        description="Only items first stored this recently are alerted, so the "
        "first run over a backlog does not flood the inbox (the digest still lists them).",
    )


class EmailSettings(_Strict):
    host: str
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password_env: str | None = Field(
        None, description="Name of the environment variable that holds the SMTP password."
    )
    sender: str = "silkwatch@localhost"
    recipients: tuple[str, ...] = ()
    timeout_seconds: float = Field(30.0, gt=0)


class WebhookSettings(_Strict):
    url_env: str = Field(description="Environment variable holding the webhook URL.")
    format: Literal["slack", "json"] = "json"
    secret_env: str | None = Field(
        None, description="Environment variable holding the HMAC-SHA256 key (json format)."
    )
    timeout_seconds: float = Field(10.0, gt=0)


class DigestSettings(_Strict):
    since_hours: float = Field(24.0, gt=0)
    recipients: tuple[str, ...] = Field(
        (), description="Digest recipients; empty means [email] recipients."
    )
    max_items_per_theme: int = Field(20, ge=1)
    source: Literal["database", "lake"] = Field(
        "database",
        description="Where the digest's matches come from: this writer's database, or the "
        "shared DuckLake (every writer's).",
    )


class ScheduleSettings(_Strict):
    monitor_every_minutes: int = Field(15, ge=1)
    digest_at: str = "07:00"
    timezone: str = "UTC"

    @field_validator("digest_at")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        try:
            time.fromisoformat(v)
        except ValueError:
            raise ValueError(f"digest_at must be HH:MM, got {v!r}") from None
        return v

    @property
    def digest_time(self) -> time:
        """``digest_at`` as a wall-clock time in ``timezone``."""
        return time.fromisoformat(self.digest_at)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


class LakeSettings(_Strict):
    """A DuckLake that this process publishes to: one warehouse shared by many writers."""

    catalog: str = Field(
        "",
        description="DuckLake catalog: 'sqlite:PATH' (processes on one host or one shared "
        "disk) or 'postgres:CONNINFO' (many machines). Empty: no lake.",
    )
    data_path: str = Field(
        "", description="Folder for the lake's Parquet files; required with a catalog."
    )
    writer: str = Field(
        "", description="Author name on this writer's snapshots; default HOST:DATABASE-FILE."
    )
    publish_every_cycle: bool = Field(True, description="Publish at the end of each cycle.")
    batch_rows: int = Field(50_000, ge=1, description="Rows per lake transaction.")
    busy_timeout_seconds: float = Field(
        60.0, ge=0, description="How long to retry while other writers hold the catalog."
    )

    @field_validator("catalog")
    @classmethod
    def _known_catalog(cls, v: str) -> str:
        v = v.strip().removeprefix("ducklake:")
        if v and not v.startswith(LAKE_CATALOG_KINDS):
            raise ValueError(
                f"unsupported DuckLake catalog {v!r}: use 'sqlite:PATH' or 'postgres:CONNINFO'"
            )
        return v

    @model_validator(mode="after")
    def _data_path_with_catalog(self) -> LakeSettings:
        if self.catalog and not self.data_path:
            raise ValueError("lake.data_path is required when lake.catalog is set")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.catalog)


class Settings(_Strict):
    storage: StorageSettings = StorageSettings()
    fetch: FetchSettings = FetchSettings()
    feeds: tuple[FeedSettings, ...] = ()
    classifier: ClassifierSettings = ClassifierSettings()
    themes: tuple[Theme, ...] = ()
    alerts: AlertSettings = AlertSettings()
    email: EmailSettings | None = None
    webhooks: dict[str, WebhookSettings] = Field(default_factory=dict)
    digest: DigestSettings = DigestSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    lake: LakeSettings = LakeSettings()
    #: where the settings came from, for messages ("built-in defaults" or a file path)
    source: str = DEFAULT_SOURCE

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        names = [t.name for t in self.themes]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"themes: duplicate theme name(s) {sorted(dupes)}")
        if self.digest.source == "lake" and not self.lake.enabled:
            raise ValueError("digest.source: 'lake' needs lake.catalog to be set")
        rule_names = [r.name for r in self.alerts.rules]
        for i, rule in enumerate(self.alerts.rules):
            if rule_names.index(rule.name) != i:  # deliveries are recorded per rule name
                raise ValueError(f"alerts.rules.{i}.name: duplicate rule name {rule.name!r}")
            unknown = [t for t in rule.themes if t not in names]
            if unknown:
                raise ValueError(
                    f"alerts.rules.{i}.themes: rule {rule.name!r} names unknown theme(s) {unknown}"
                )
            for ch in rule.channels:
                if ch == "email":
                    if self.email is not None and not self.email.recipients:
                        raise ValueError(
                            f"alerts.rules.{i}.channels: rule {rule.name!r} sends email but "
                            "email.recipients is empty"
                        )
                    continue
                if ch.startswith("webhook:") and ch.split(":", 1)[1] in self.webhooks:
                    continue
                raise ValueError(
                    f"alerts.rules.{i}.channels: rule {rule.name!r} names unknown channel {ch!r} "
                    f"(use 'email' or 'webhook:NAME' with a [webhooks.NAME] table)"
                )
        return self

    @property
    def config_file(self) -> str | None:
        """The TOML file these settings came from, to hand to a flow run by path.

        Flow parameters are stored by Prefect (and capped at 512 KB), so runs get a path
        rather than a serialised copy of a large feed list. Absolute, because the run may
        start in another working directory (a runner child, a worker).
        """
        return None if self.source == DEFAULT_SOURCE else str(Path(self.source).resolve())

    def themes_version(self) -> str:
        """A short hash of the theme definitions, stored with every score."""
        blob = json.dumps([t.model_dump(mode="json") for t in self.themes], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def theme(self, name: str) -> Theme:
        for t in self.themes:
            if t.name == name:
                return t
        raise KeyError(name)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("config file not found", source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(path)) from None


def _defaults() -> dict[str, Any]:
    pkg = resources.files("silkwatch")
    data = tomllib.loads(pkg.joinpath("defaults.toml").read_text("utf-8"))
    data["themes"] = tomllib.loads(pkg.joinpath("default_themes.toml").read_text("utf-8"))["themes"]
    return data


def _merge(defaults: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in user.items():
        if key == "themes":
            continue
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "webhooks":
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    builtin = merged.get("classifier", {}).get("builtin_themes", True)
    themes = {t["name"]: t for t in defaults.get("themes", [])} if builtin else {}
    own: set[str] = set()
    for t in user.get("themes", []):
        name = t.get("name") if isinstance(t, dict) else None
        if isinstance(name, str) and name not in own:
            # replaces a built-in theme of that name; a second one in the same file is kept
            # apart so validation reports the duplicate instead of silently dropping one
            own.add(name)
            themes[name] = t
        else:
            themes[f"#{len(themes)}"] = t
    merged["themes"] = list(themes.values())
    if "rules" not in user.get("alerts", {}):
        # the built-in rule names the built-in themes; drop it where they are switched off
        names = {t.get("name") for t in merged["themes"] if isinstance(t, dict)}
        alerts = dict(merged.get("alerts", {}))
        alerts["rules"] = [r for r in alerts.get("rules", []) if set(r["themes"]) <= names]
        merged["alerts"] = alerts
    return merged


def _env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    applied = []
    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX) or var == CONFIG_ENV or "__" not in var:
            continue
        section, _, key = var[len(ENV_PREFIX) :].lower().partition("__")
        value: Any = raw
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # bare strings need no quotes
        data.setdefault(section, {})
        if not isinstance(data[section], dict):
            raise ConfigError(
                f"{section} cannot be set from the environment", key=section, source=var
            )
        data[section][key] = value
        applied.append(var)
    return applied


def _resolve_path(value: str | Path, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative file paths count from the config file's folder, wherever the run starts."""
    db = _resolve_path(settings.storage.database, base)
    lake = settings.lake
    if lake.catalog.startswith("sqlite:"):
        catalog_file = _resolve_path(lake.catalog.removeprefix("sqlite:"), base)
        lake = lake.model_copy(update={"catalog": f"sqlite:{catalog_file}"})
    if lake.data_path and "://" not in lake.data_path:  # object storage URLs stay as given
        lake = lake.model_copy(update={"data_path": str(_resolve_path(lake.data_path, base))})
    return settings.model_copy(
        update={"storage": settings.storage.model_copy(update={"database": db}), "lake": lake}
    )


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load and validate the settings; raise ``ConfigError`` naming the key and source."""
    environ = os.environ if environ is None else environ
    if path is None and environ.get(CONFIG_ENV):
        path = environ[CONFIG_ENV]
    user: dict[str, Any] = {}
    source = DEFAULT_SOURCE
    base = Path.cwd()
    if path is not None:
        p = Path(path).expanduser()
        user = _read_toml(p)
        source = str(p)
        base = p.resolve().parent
    data = _merge(_defaults(), user)
    env_vars = _env_overrides(data, environ)
    try:
        settings = Settings.model_validate({**data, "source": source})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        where = source if not env_vars else f"{source} (+ env {', '.join(env_vars)})"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        raise ConfigError(msg, key=key, source=where) from None
    return _resolve_paths(settings, base)
