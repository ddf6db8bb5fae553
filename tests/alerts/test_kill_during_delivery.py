"""kill -9 in the middle of delivering alerts, then a rerun: nothing lost, one duplicate at most.

A child process runs ``deliver_alerts`` against an SMTP server that accepts the first
message and then holds the second one: the server has the bytes, but the child never gets
its "250". We SIGKILL the child there, then run delivery again. Every alert must arrive;
the only copy allowed twice is the message that was in flight, carrying the same
Message-ID (and the same bytes) both times, so mail clients fold it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections import Counter

from flows.notify import deliver_alerts

CHILD = """
import sys
from datetime import datetime
from silkwatch.config import load_settings
from flows.notify import deliver_alerts
settings = load_settings(sys.argv[1], environ={})
deliver_alerts(settings, run_id="killed", now=datetime.fromisoformat(sys.argv[2]))
print("finished")  # never reached: the test kills us first
"""

RULES = "".join(
    f'\n[[alerts.rules]]\nname = "{name}"\nthemes = ["{theme}"]\nmin_score = {floor}\n'
    for name, theme, floor in [
        ("cities-all", "smart_cities", 0.5),
        ("cities-strong", "smart_cities", 0.85),
        ("sco", "sco_ecommerce", 0.6),
    ]
)


def test_kill_9_during_delivery_then_rerun_delivers_everything_once(
    alert_settings, seed, make_smtp_server, query, now, tmp_path
):
    in_flight = threading.Event()
    release = threading.Event()
    accepted = 0

    def hold_the_second(data: bytes) -> None:
        nonlocal accepted
        accepted += 1
        if accepted == 2:
            in_flight.set()
            release.wait(120)  # the client is killed while we hold its "250"

    server = make_smtp_server(before_reply=hold_the_second)
    settings = alert_settings(f"""
[email]
host = "127.0.0.1"
port = {server.port}
sender = "silkwatch@alerts.example"
recipients = ["analyst@example.org"]
{RULES}
""")
    seed(
        settings,
        [
            {"id": "c1", "title": "City Brain 3.0 launched", "scores": {"smart_cities": 0.95}},
            {"id": "c2", "title": "Traffic AI tender", "scores": {"smart_cities": 0.6}},
            {"id": "s1", "title": "Ozon hub in Almaty", "scores": {"sco_ecommerce": 0.9}},
            {"id": "s2", "title": "Wildberries Tashkent", "scores": {"sco_ecommerce": 0.7}},
        ],
    )
    expected = {
        "cities-all": {"City Brain 3.0 launched", "Traffic AI tender"},
        "cities-strong": {"City Brain 3.0 launched"},
        "sco": {"Ozon hub in Almaty", "Wildberries Tashkent"},
    }

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, settings.source, now.isoformat()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    try:
        assert in_flight.wait(120), child.communicate(timeout=5)
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=60)
    finally:
        release.set()
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL and b"finished" not in out

    statuses = Counter(s for (s,) in query(settings, "SELECT status FROM alerts_sent"))
    assert statuses["pending"] >= 1  # the killed run queued everything before sending

    rerun = deliver_alerts(settings, run_id="rerun", now=now)
    assert rerun.failed == 0 and rerun.queued == 0  # nothing re-planned: only resent

    messages = server.messages
    ids = Counter(m["Message-ID"] for m in messages)
    assert len(ids) == 3  # one message per rule
    duplicated = [mid for mid, n in ids.items() if n > 1]
    assert len(messages) - len(ids) <= 1  # at most the in-flight message came twice …
    assert len(duplicated) == 1 and ids[duplicated[0]] == 2  # … and here it did
    copies = [
        raw for raw, m in zip(server.raw, messages, strict=True) if m["Message-ID"] == duplicated[0]
    ]
    assert copies[0] == copies[1]  # same Message-ID and the same bytes

    got = {}
    for m in messages:
        text = m.get_body(("plain",)).get_content()
        got[m["X-Silkwatch-Rule"]] = set(re.findall(r"^\d+\. (.+?)\r?$", text, flags=re.M))
    assert got == expected
    assert query(settings, "SELECT DISTINCT status FROM alerts_sent") == [("sent",)]
