"""`silkwatch serve` unattended: a 1-minute schedule fetches at least twice, a crashing run
does not stop the schedule, and SIGTERM stops everything serve started within 30 s
(here with a flow run in progress). Both modes: Prefect deployments (a process per run)
and --in-process (one long-lived process that keeps the model loaded).

This runs the real command as a subprocess with its own local `prefect server start`,
against a loopback feed server, and watches the process tree from /proc. It takes about
two to three minutes (the schedule's interval is one minute).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from flows.serve import DIGEST_DEPLOYMENT, MONITOR_DEPLOYMENT, digest_cron
from silkwatch.config import ScheduleSettings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree"),
]

DEADLINE_SECONDS = 210  # two cycles: server start (16-65 s) + first run + one interval + margin
ETAG = '"v1"'


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], fields[19]


def _descendants(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of every live process below ``root``."""
    parents: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None and st[1] != "Z":
            parents[int(entry)] = (st[0], st[2])
    found: set[tuple[int, str]] = set()
    frontier = {root}
    while frontier:
        children = {pid for pid, (ppid, _) in parents.items() if ppid in frontier}
        found |= {(pid, parents[pid][1]) for pid in children}
        frontier = children
    return found


def _alive(process: tuple[int, str]) -> bool:
    st = _stat(process[0])
    return st is not None and st[2] == process[1] and st[1] != "Z"


def _cycles(path: Path) -> int | None:
    """Monitoring cycles recorded in fetch_log, or None while a run is writing."""
    if not path.exists():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as db:
            return int(db.execute("SELECT count(DISTINCT run_id) FROM fetch_log").fetchone()[0])
    except duckdb.Error:
        return None


def _config(feed_url: str, model: str) -> str:
    return f"""
[storage]
database = "sw.duckdb"

[classifier]
model = "{model}"

[schedule]
monitor_every_minutes = 1
digest_at = "06:30"
timezone = "Asia/Almaty"

[[feeds]]
url = "{feed_url}"
name = "Loopback"
"""


@pytest.mark.parametrize("mode", ["deployments", "in-process"])
def test_serve_runs_on_schedule_survives_a_crash_and_stops_cleanly(
    mode: str, httpserver: HTTPServer, write_config, make_rss, tmp_path: Path
):
    body = make_rss(
        "Loopback",
        [
            {
                "title": f"Story {i}",
                "link": f"https://news.example/{i}",
                "guid": f"g{i}",
                "description": "Almaty city hall deploys an AI traffic signal platform.",
            }
            for i in range(5)
        ],
    )
    requests: list[str] = []

    def feed(request: Request) -> Response:
        requests.append(request.headers.get("If-None-Match", ""))
        if request.headers.get("If-None-Match") == ETAG:
            return Response(status=304, headers={"ETag": ETAG})
        return Response(body, content_type="application/rss+xml", headers={"ETag": ETAG})

    httpserver.expect_request("/feed.xml").respond_with_handler(feed)
    feed_url = httpserver.url_for("/feed.xml")
    # The first run crashes: the model path does not exist (it fails after ingest).
    config = write_config(_config(feed_url, str(tmp_path / "no-such-model")))
    db_path = tmp_path / "sw.duckdb"
    log_path = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env["PREFECT_RUNNER_POLL_FREQUENCY"] = "2"  # pick scheduled runs up promptly (default 10 s)

    seen: set[tuple[int, str]] = set()
    with log_path.open("wb") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "silkwatch", "serve", "--config", str(config)]
            + (["--in-process"] if mode == "in-process" else []),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        )
        try:
            api_url = None
            fixed = False
            cycles = 0
            deadline = time.monotonic() + DEADLINE_SECONDS
            while time.monotonic() < deadline and serve.poll() is None:
                seen |= _descendants(serve.pid)
                if api_url is None:
                    m = re.search(r"Prefect server on (http://\S+/api)", log_path.read_text())
                    api_url = m.group(1) if m else None
                cycles = _cycles(db_path) or cycles
                if cycles >= 1 and not fixed:
                    # the first cycle has fetched and is about to crash; repair the config,
                    # which the next run reads
                    config.write_text(_config(feed_url, ""))
                    fixed = True
                if cycles >= 2:
                    break
                time.sleep(2)
            assert serve.poll() is None, log_path.read_text()[-3000:]
            tail = log_path.read_text()[-4000:]
            assert cycles >= 2, f"cycles seen: {cycles}\n{tail}"
            runs = httpx.post(
                f"{api_url}/flow_runs/filter", json={"sort": "EXPECTED_START_TIME_ASC"}
            ).json()
            started = [r["state_type"] for r in runs if r["start_time"] is not None]
            assert started[0] == "FAILED", started  # the first run crashed...
            assert len(started) >= 2, started  # ...and the next one ran on schedule

            deployments = httpx.post(f"{api_url}/deployments/filter", json={}).json()
            by_name = {d["name"]: d for d in deployments}
            if mode == "deployments":
                assert {MONITOR_DEPLOYMENT, DIGEST_DEPLOYMENT} <= set(by_name)
                digest_schedule = by_name[DIGEST_DEPLOYMENT]["schedules"][0]["schedule"]
                assert digest_schedule["cron"] == digest_cron(ScheduleSettings(digest_at="06:30"))
                assert digest_schedule["timezone"] == "Asia/Almaty"
                for name in (MONITOR_DEPLOYMENT, DIGEST_DEPLOYMENT):  # runs never overlap
                    assert by_name[name]["global_concurrency_limit"]["limit"] == 1
                    strategy = by_name[name]["concurrency_options"]["collision_strategy"]
                    assert strategy == "CANCEL_NEW"
            else:  # the schedule lives in the long-lived process; runs are still recorded
                assert not by_name

            seen |= _descendants(serve.pid)
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(timeout=30) == 0, log_path.read_text()[-3000:]
        finally:
            if serve.poll() is None:  # only if an assertion above failed
                os.killpg(serve.pid, signal.SIGKILL)
                for pid, _ in _descendants(serve.pid) | seen:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                serve.wait()

    time.sleep(1)  # let init reap the last orphans
    survivors = [p for p in seen if _alive(p)]
    assert not survivors, f"processes left behind: {survivors}"
    assert len(seen) >= 2  # the server and the runner (and flow runs) were seen and are gone
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{api_url}/health", timeout=2)
    assert requests[0] == "" and ETAG in requests[1:]  # the later cycle sent the validator
    output = log_path.read_text()
    assert "received SIGTERM: stopping" in output and "stopped" in output
