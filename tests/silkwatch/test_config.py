"""Configuration: defaults, a TOML file, env overrides; errors name the key and the file."""

from __future__ import annotations

import pytest

from silkwatch.config import load_settings
from silkwatch.errors import ConfigError


def test_builtin_defaults_carry_feeds_and_the_three_themes():
    settings = load_settings(None, environ={})
    assert len(settings.feeds) >= 10
    assert all(f.url.startswith("https://") for f in settings.feeds)
    assert {t.name for t in settings.themes} == {
        "smart_cities",
        "sco_ecommerce",
        "china_tech_regulation",
    }
    assert settings.storage.database.name == "silkwatch.duckdb"


def test_a_config_file_replaces_feeds_and_adds_themes(write_config):
    path = write_config(
        """
[storage]
database = "data/news.duckdb"

[[feeds]]
url = "https://example.org/feed.xml"
name = "Example"
tags = ["test"]

[[themes]]
name = "ports"
label = "Ports and shipping"
description = "Chinese-financed ports"
examples = ["A Chinese firm takes a stake in a container terminal."]
threshold = 0.6
"""
    )
    settings = load_settings(path, environ={})
    assert [f.url for f in settings.feeds] == ["https://example.org/feed.xml"]
    assert "ports" in {t.name for t in settings.themes}
    assert len(settings.themes) == 4
    assert settings.storage.database == path.parent / "data" / "news.duckdb"


def test_theme_version_changes_when_examples_change(write_config):
    base = load_settings(None, environ={})
    path = write_config(
        '[[themes]]\nname = "smart_cities"\nlabel = "Smart cities"\n'
        'description = "x"\nexamples = ["A different example sentence."]\n'
    )
    assert load_settings(path, environ={}).themes_version() != base.themes_version()


def test_unknown_key_names_the_key_and_the_file(write_config):
    path = write_config("[fetch]\ntimeout_secs = 5\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert err.value.key == "fetch.timeout_secs"
    assert str(path) in str(err.value)
    assert "unknown setting" in str(err.value)


def test_bad_value_names_the_key(write_config):
    path = write_config("[fetch]\nconcurrency = 0\n")
    with pytest.raises(ConfigError, match=r"fetch\.concurrency"):
        load_settings(path, environ={})


def test_bad_feed_url_names_the_feed_entry(write_config):
    path = write_config('[[feeds]]\nurl = "ftp://example.org/feed"\n')
    with pytest.raises(ConfigError, match=r"feeds\.0\.url.*ftp://"):
        load_settings(path, environ={})


def test_invalid_toml_and_missing_file_name_the_file(write_config, tmp_path):
    path = write_config("[fetch\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, environ={})
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_env_overrides_win_and_are_named_in_errors(write_config):
    settings = load_settings(
        None,
        environ={"SILKWATCH_FETCH__CONCURRENCY": "3", "SILKWATCH_STORAGE__DATABASE": "/x/y.duckdb"},
    )
    assert settings.fetch.concurrency == 3
    assert str(settings.storage.database) == "/x/y.duckdb"
    with pytest.raises(ConfigError, match="SILKWATCH_FETCH__CONCURRENCY"):
        load_settings(None, environ={"SILKWATCH_FETCH__CONCURRENCY": "many"})


def test_config_file_from_environment(write_config):
    path = write_config("[fetch]\nconcurrency = 7\n")
    settings = load_settings(None, environ={"SILKWATCH_CONFIG": str(path)})
    assert settings.fetch.concurrency == 7
    assert settings.source == str(path)


def test_alert_rule_with_unknown_theme_fails_naming_the_rule(write_config):
    path = write_config('[[alerts.rules]]\nname = "mine"\nthemes = ["nope"]\n')
    with pytest.raises(ConfigError, match="mine"):
        load_settings(path, environ={})


def test_switching_off_builtin_themes_drops_the_builtin_rule(write_config):
    path = write_config(
        '[classifier]\nbuiltin_themes = false\n[[themes]]\nname = "ports"\nlabel = "Ports"\n'
        'description = "Ports"\nexamples = ["A port deal."]\n'
    )
    settings = load_settings(path, environ={})
    assert [t.name for t in settings.themes] == ["ports"]
    assert settings.alerts.rules == ()


def test_lake_is_off_by_default_and_relative_paths_follow_the_config_file(write_config):
    assert not load_settings(None, environ={}).lake.enabled
    path = write_config(
        '[lake]\ncatalog = "ducklake:sqlite:shared/lake.sqlite"\ndata_path = "shared/data"\n'
    )
    lake = load_settings(path, environ={}).lake
    assert lake.enabled
    assert lake.catalog == f"sqlite:{path.parent / 'shared' / 'lake.sqlite'}"
    assert lake.data_path == str(path.parent / "shared" / "data")


def test_lake_object_storage_and_postgres_are_kept_as_given(write_config):
    path = write_config(
        '[lake]\ncatalog = "postgres:dbname=lake host=db"\ndata_path = "s3://bucket/lake/"\n'
    )
    lake = load_settings(path, environ={}).lake
    assert (lake.catalog, lake.data_path) == ("postgres:dbname=lake host=db", "s3://bucket/lake/")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('catalog = "sqlite:lake.sqlite"', "lake.data_path is required"),
        ('catalog = "mysql:db=lake"\ndata_path = "d"', "unsupported DuckLake catalog"),
    ],
)
def test_lake_mistakes_name_the_setting_and_file(write_config, text: str, message: str):
    path = write_config(f"[lake]\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert str(path) in str(err.value) and "lake" in str(err.value)
    assert message in str(err.value)
