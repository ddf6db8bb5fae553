"""deliver_alerts against a real SMTP server on 127.0.0.1 and a DuckDB file: exactly once."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from flows.notify import deliver_alerts


def email_config(port: int, rules: str | None = None, extra: str = "") -> str:
    rules = (
        rules
        or """
[[alerts.rules]]
name = "cities"
themes = ["smart_cities"]
channels = ["email"]
"""
    )
    return f"""
[email]
host = "127.0.0.1"
port = {port}
sender = "silkwatch@alerts.example"
recipients = ["analyst@example.org"]
timeout_seconds = 5
{extra}
{rules}
"""


def titles_in(message) -> set[str]:
    text = message.get_body(("plain",)).get_content()
    return set(re.findall(r"^\d+\. (.+?)\r?$", text, flags=re.M))


def test_one_email_per_rule_naming_exactly_the_new_matches(
    alert_settings, seed, smtp_server, query, now
):
    settings = alert_settings(email_config(smtp_server.port))
    seed(
        settings,
        [
            {
                "id": "a",
                "title": "Hangzhou expands its City Brain",
                "url": "https://n.example/a",
                "scores": {"smart_cities": 0.91, "sco_ecommerce": 0.1},
            },
            {
                "id": "b",
                "title": "Shenzhen traffic AI contract",
                "url": "https://n.example/b",
                "scores": {"smart_cities": 0.55},
            },
            {
                "id": "c",
                "title": "Football results",
                "url": "https://n.example/c",
                "scores": {"smart_cities": 0.2},
            },
        ],
    )

    result = deliver_alerts(settings, run_id="r1", now=now)

    assert (result.sent, result.failed, result.queued) == (1, 0, 1)
    [msg] = smtp_server.messages
    assert titles_in(msg) == {"Hangzhou expands its City Brain", "Shenzhen traffic AI contract"}
    assert msg.get_content_type() == "multipart/alternative"
    html = msg.get_body(("html",)).get_content()
    assert '<a href="https://n.example/a"' in html and "Football" not in html
    assert msg["To"] == "analyst@example.org"
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@alerts.example>")
    assert query(settings, "SELECT item_id, status, attempts FROM alerts_sent ORDER BY 1") == [
        ("a", "sent", 1),
        ("b", "sent", 1),
    ]

    # A second run finds nothing new and sends nothing.
    again = deliver_alerts(settings, run_id="r2", now=now + timedelta(minutes=15))
    assert (again.sent, again.failed, again.queued) == (0, 0, 0)
    assert len(smtp_server.messages) == 1

    # A new on-theme item gives exactly one new email naming only it.
    seed(
        settings,
        [
            {
                "id": "d",
                "title": "Almaty safe city cameras",
                "url": "https://n.example/d",
                "scores": {"smart_cities": 0.8},
            }
        ],
        now=now + timedelta(minutes=20),
    )
    third = deliver_alerts(settings, run_id="r3", now=now + timedelta(minutes=30))
    assert (third.sent, third.queued) == (1, 1)
    assert len(smtp_server.messages) == 2
    assert titles_in(smtp_server.messages[1]) == {"Almaty safe city cameras"}


def test_min_score_filters_and_one_message_per_rule(alert_settings, seed, smtp_server, now):
    rules = """
[[alerts.rules]]
name = "strong"
themes = ["smart_cities", "sco_ecommerce"]
min_score = 0.85
channels = ["email"]

[[alerts.rules]]
name = "sco-almaty"
themes = ["sco_ecommerce"]
keywords = ["almaty"]
tags = ["central-asia"]
channels = ["email"]
"""
    settings = alert_settings(email_config(smtp_server.port, rules))
    seed(
        settings,
        [
            {"id": "a", "title": "City Brain 3.0", "scores": {"smart_cities": 0.9}},
            {
                "id": "b",
                "title": "Ozon opens Almaty hub",
                "tags": ["central-asia"],
                "feed": "https://feeds.example/ca.xml",
                "scores": {"sco_ecommerce": 0.7},
            },
            {
                "id": "c",
                "title": "Wildberries in Tashkent",
                "tags": ["central-asia"],
                "feed": "https://feeds.example/ca.xml",
                "scores": {"sco_ecommerce": 0.95},
            },
            {"id": "d", "title": "Temu Almaty pickup points", "scores": {"sco_ecommerce": 0.8}},
        ],
    )

    result = deliver_alerts(settings, run_id="r1", now=now)

    assert result.sent == 2
    by_rule = {m["X-Silkwatch-Rule"]: titles_in(m) for m in smtp_server.messages}
    assert by_rule == {
        "strong": {"City Brain 3.0", "Wildberries in Tashkent"},
        "sco-almaty": {"Ozon opens Almaty hub"},  # d: no tag; c: no keyword
    }


def test_same_story_from_two_feeds_is_alerted_once(alert_settings, seed, smtp_server, query, now):
    settings = alert_settings(email_config(smtp_server.port))
    story = "https://n.example/2026/city-brain"
    seed(
        settings,
        [
            {
                "id": "x1",
                "title": "City Brain goes live",
                "url": story,
                "feed": "https://f1.example/",
                "scores": {"smart_cities": 0.8},
            },
            {
                "id": "x2",
                "title": "City Brain goes live (wire)",
                "url": story,
                "feed": "https://f2.example/",
                "scores": {"smart_cities": 0.9},
            },
        ],
    )
    deliver_alerts(settings, run_id="r1", now=now)
    # The same story arrives again from a third feed on a later run.
    seed(
        settings,
        [
            {
                "id": "x3",
                "title": "City Brain live",
                "url": story,
                "feed": "https://f3.example/",
                "scores": {"smart_cities": 0.95},
            }
        ],
        now=now + timedelta(minutes=10),
    )
    later = deliver_alerts(settings, run_id="r2", now=now + timedelta(minutes=15))

    assert later.queued == 0
    [msg] = smtp_server.messages
    assert titles_in(msg) == {"City Brain goes live (wire)"}  # the best-scoring copy
    assert query(settings, "SELECT item_id, story_key FROM alerts_sent") == [("x2", story)]


def test_items_older_than_the_alert_window_are_not_alerted(alert_settings, seed, smtp_server, now):
    settings = alert_settings(
        email_config(smtp_server.port, extra="") + "\n[alerts]\nmax_age_hours = 6\n"
    )
    seed(
        settings,
        [
            {
                "id": "old",
                "title": "Backlog item",
                "age_hours": 30,
                "scores": {"smart_cities": 0.9},
            },
            {"id": "new", "title": "Fresh item", "age_hours": 2, "scores": {"smart_cities": 0.9}},
        ],
    )
    deliver_alerts(settings, run_id="r1", now=now)
    [msg] = smtp_server.messages
    assert titles_in(msg) == {"Fresh item"}


def test_scores_from_an_older_theme_version_are_ignored(
    alert_settings, seed, smtp_server, query, now
):
    settings = alert_settings(email_config(smtp_server.port))
    seed(settings, [{"id": "a", "title": "City Brain", "scores": {"smart_cities": 0.9}}])
    with_other_themes = alert_settings(
        email_config(smtp_server.port)
        + '\n[[themes]]\nname = "ports"\nlabel = "Ports"\ndescription = "d"\nexamples = ["e"]\n'
    )
    assert with_other_themes.themes_version() != settings.themes_version()
    result = deliver_alerts(with_other_themes, run_id="r1", now=now)
    assert (result.queued, smtp_server.messages) == (0, [])


def test_smtp_down_records_the_failure_and_the_next_run_delivers(
    alert_settings, seed, make_smtp_server, query, caplog, unused_port, now
):
    port = unused_port  # nothing listens here yet: the server is "down"
    settings = alert_settings(email_config(port))
    seed(settings, [{"id": "a", "title": "City Brain", "scores": {"smart_cities": 0.9}}])

    with caplog.at_level(logging.WARNING):
        down = deliver_alerts(settings, run_id="r1", now=now)

    assert (down.sent, down.failed) == (0, 1)
    assert f"email (127.0.0.1:{port})" in down.errors[0]
    [(status, error, attempts, message_id)] = query(
        settings, "SELECT status, error, attempts, message_id FROM alerts_sent"
    )
    assert (status, attempts) == ("failed", 1)
    assert "cannot reach the server" in error
    assert "will retry next run" in caplog.text

    server = make_smtp_server(port=port)
    up = deliver_alerts(settings, run_id="r2", now=now + timedelta(minutes=15))

    assert (up.sent, up.failed, up.queued) == (1, 0, 0)
    [msg] = server.messages
    assert msg["Message-ID"] == message_id  # the same message, queued before the failure
    assert query(settings, "SELECT status, error, attempts FROM alerts_sent") == [("sent", None, 2)]


def test_without_email_settings_alerts_go_to_the_outbox(alert_settings, seed, query, now):
    settings = alert_settings("""
[[alerts.rules]]
name = "cities"
themes = ["smart_cities"]
""")
    seed(settings, [{"id": "a", "title": "City Brain", "scores": {"smart_cities": 0.9}}])

    result = deliver_alerts(settings, run_id="r1", now=now)

    [path] = result.outbox
    assert path.startswith(str(settings.storage.outbox)) and path.endswith(".eml")
    from email import message_from_bytes, policy
    from pathlib import Path

    msg = message_from_bytes(Path(path).read_bytes(), policy=policy.default)
    assert titles_in(msg) == {"City Brain"}
    assert query(settings, "SELECT channel, status FROM alerts_sent") == [("outbox", "sent")]
    assert deliver_alerts(settings, run_id="r2", now=now).outbox == ()


def test_the_password_stays_out_of_errors_logs_and_the_database(
    alert_settings, seed, make_smtp_server, query, caplog, now
):
    from aiosmtpd.smtp import AuthResult

    password = "s3cret-Pa55-word"

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)  # every login is refused

    server = make_smtp_server(authenticator=authenticator, auth_require_tls=False)
    settings = alert_settings(
        email_config(server.port, extra='username = "analyst"\npassword_env = "SW_SMTP_PW"'),
    )
    seed(settings, [{"id": "a", "title": "City Brain", "scores": {"smart_cities": 0.9}}])

    with caplog.at_level(logging.DEBUG):
        result = deliver_alerts(settings, run_id="r1", now=now, environ={"SW_SMTP_PW": password})

    assert result.failed == 1 and "login refused" in result.errors[0]
    assert password not in result.errors[0]
    assert password not in caplog.text
    dump = query(settings, "SELECT * FROM alerts_sent") + query(
        settings, "SELECT message_id, rule, channel, payload::VARCHAR FROM alert_messages"
    )
    assert password not in repr(dump)
    assert server.messages == []


def test_a_missing_password_variable_is_named(alert_settings, seed, smtp_server, now):
    settings = alert_settings(
        email_config(smtp_server.port, extra='username = "a"\npassword_env = "SW_SMTP_PW"')
    )
    seed(settings, [{"id": "a", "title": "City Brain", "scores": {"smart_cities": 0.9}}])
    result = deliver_alerts(settings, run_id="r1", now=now, environ={})
    assert "SW_SMTP_PW" in result.errors[0] and "is not set" in result.errors[0]
