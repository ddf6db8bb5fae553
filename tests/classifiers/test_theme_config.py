"""Themes are configuration: a bad theme fails at start, naming the theme field and the file."""

from __future__ import annotations

import pytest

from silkwatch.config import load_settings
from silkwatch.errors import ConfigError

THEME = """
[[themes]]
name = {name}
label = "Ports"
description = "Chinese-financed ports"
examples = {examples}
threshold = {threshold}
"""


def theme_toml(
    name='"ports"', examples='["A Chinese firm buys a stake in a port."]', threshold=0.5
):
    return THEME.format(name=name, examples=examples, threshold=threshold)


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        (theme_toml(threshold=1.5), "threshold"),
        (theme_toml(examples="[]"), "examples"),
        (theme_toml(name='"Ports and Harbours"'), "name"),
        (theme_toml() + 'colour = "blue"\n', "colour"),
    ],
    ids=["threshold above 1", "no examples", "name not snake_case", "unknown key"],
)
def test_a_bad_theme_fails_naming_the_field_and_the_file(write_config, toml, named):
    path = write_config(toml)
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert named in str(err.value)
    assert str(path) in str(err.value)


def test_a_user_theme_is_added_beside_the_builtin_ones_and_versioned(write_config):
    builtin = load_settings(None, environ={})
    settings = load_settings(write_config(theme_toml()), environ={})
    assert [t.name for t in settings.themes][-1] == "ports"
    assert {t.name for t in builtin.themes} < {t.name for t in settings.themes}
    assert settings.themes_version() != builtin.themes_version()


def test_builtin_themes_can_be_switched_off(write_config):
    path = write_config("[classifier]\nbuiltin_themes = false\n" + theme_toml())
    assert [t.name for t in load_settings(path, environ={}).themes] == ["ports"]


def test_two_themes_with_one_name_is_an_error_unless_it_replaces_a_builtin(write_config):
    path = write_config(theme_toml() + theme_toml())
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert "ports" in str(err.value)
