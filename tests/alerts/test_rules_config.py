"""Invalid alert rules stop the program at start-up, naming the rule."""

from __future__ import annotations

import pytest

from silkwatch.errors import ConfigError

RULE = '[[alerts.rules]]\nname = "{name}"\nthemes = ["{theme}"]\nchannels = [{channels}]\n'


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            RULE.format(name="r1", theme="nope", channels='"email"'),
            "rule 'r1' names unknown theme(s) ['nope']",
        ),
        (
            RULE.format(name="r2", theme="smart_cities", channels='"webhook:ops"'),
            "rule 'r2' names unknown channel 'webhook:ops'",
        ),
        (
            RULE.format(name="r3", theme="smart_cities", channels='"email"') * 2,
            "duplicate rule name 'r3'",
        ),
        (
            '[email]\nhost = "mail.example"\n\n'
            + RULE.format(name="r4", theme="smart_cities", channels='"email"'),
            "rule 'r4' sends email but email.recipients is empty",
        ),
        ("[alerts]\nmax_age_hours = 0\n", "greater than 0"),
    ],
)
def test_bad_rules_fail_naming_the_rule(alert_settings, toml, expected):
    with pytest.raises(ConfigError) as info:
        alert_settings(toml)
    assert expected in str(info.value) and "silkwatch.toml" in str(info.value)


def test_alert_window_default(alert_settings):
    assert alert_settings("[alerts]\nrules = []").alerts.max_age_hours == 48
