"""Child process groups: stopping one leaves nothing behind, even a child that ignores SIGTERM."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from flows.processes import ProcessGroup, free_port, group_alive, wait_for_http

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")

# A parent that starts a grandchild which ignores SIGTERM, writes the grandchild's pid, waits.
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_stop_ends_the_whole_group_and_kills_what_ignores_sigterm(tmp_path: Path):
    pid_file = tmp_path / "grandchild.pid"
    group = ProcessGroup("tree", [sys.executable, "-c", TREE, str(pid_file)]).start()
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    assert os.getpgid(grandchild) == group.pid != os.getpgid(0)  # its own group, not ours

    graceful = group.stop(grace_seconds=0.5)

    assert graceful is False  # the grandchild needed SIGKILL
    assert not group_alive(group.pid)
    assert not _alive(grandchild)
    assert group.stop() is True  # stopping again is a no-op, never a signal to a reused id


def test_output_goes_to_the_log_file_and_exit_codes_are_reported(tmp_path: Path):
    log = tmp_path / "logs" / "child.log"
    group = ProcessGroup(
        "echo",
        [sys.executable, "-c", "print('hello from the child'); raise SystemExit(3)"],
        log_path=log,
    ).start()
    group.proc.wait(timeout=30)
    assert group.exit_code() == 3
    group.stop()
    assert "hello from the child" in log.read_text()


def test_wait_for_http_gives_up_when_the_process_exits():
    port = free_port()
    group = ProcessGroup("quitter", [sys.executable, "-c", "pass"]).start()
    assert wait_for_http(f"http://127.0.0.1:{port}/", timeout_seconds=30, process=group) is False
    group.stop()
