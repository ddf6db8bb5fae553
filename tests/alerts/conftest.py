"""Alert tests: a config with two small themes, and stored items with scores written by SQL.

The classifier is not run here: scores are inserted the way it stores them (current
``themes_version``), so these tests pin down selection and delivery alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from silkwatch.config import Settings, load_settings
from warehouse.db import open_db

NOW = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)

THEMES = """
[classifier]
builtin_themes = false

[[themes]]
name = "smart_cities"
label = "Smart cities"
description = "City-scale AI, camera and sensor platforms."
examples = ["The city signed a contract for an AI traffic platform."]
threshold = 0.5

[[themes]]
name = "sco_ecommerce"
label = "SCO e-commerce"
description = "Cross-border e-commerce among SCO members."
examples = ["A marketplace opened a warehouse in Almaty for Chinese sellers."]
threshold = 0.6
"""


@pytest.fixture
def alert_settings(write_config):
    """``alert_settings(extra_toml) -> Settings``: two themes, a DuckDB file in tmp_path."""

    def make(extra: str = "", environ: dict[str, str] | None = None) -> Settings:
        path = write_config(f'[storage]\ndatabase = "sw.duckdb"\n{THEMES}\n{extra}')
        return load_settings(path, environ=environ or {})

    return make


@pytest.fixture
def seed(seed_items):
    """``seed(settings, items, now=NOW)``: the shared ``seed_items`` at this module's NOW."""

    def seed_at(settings: Settings, items: list[dict], *, now: datetime = NOW) -> None:
        seed_items(settings, items, now=now)

    return seed_at


def rows(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    with open_db(Path(settings.storage.database)) as db:
        return db.execute(sql, params or []).fetchall()


@pytest.fixture
def query():
    """``query(settings, sql, params) -> rows`` against the test database."""
    return rows


@pytest.fixture
def now() -> datetime:
    """The fixed 'now' the seeded items are relative to."""
    return NOW
