"""Child processes that can always be stopped completely: one process group per child.

``silkwatch serve`` starts a Prefect server and a runner; the runner starts a new Python
process per flow run, and the server starts its own helpers. Stopping only the direct child
would leave those behind, so every child gets its own session (process group) and is stopped
by signalling the whole group: SIGTERM, a grace period, then SIGKILL. On Linux each child
also asks the kernel to SIGTERM it if its parent dies, so even ``kill -9`` of ``silkwatch
serve`` does not leave a server running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

__all__ = ["ProcessGroup", "free_port", "group_alive", "wait_for_http"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still exists (zombies included until reaped)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ProcessGroup:
    """A command run as the leader of a new process group, stoppable as a whole."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
    ):
        self.name = name
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._stopped = False  # once empty, the group id may be reused: never signal it again

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> ProcessGroup:
        out: IO[bytes] | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        return self

    def exit_code(self) -> int | None:
        """None while the leader runs; its exit status once it has ended."""
        return None if self.proc is None else self.proc.poll()

    def signal(self, sig: int) -> None:
        if self.proc is None or self._stopped:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self, grace_seconds: float = 10.0) -> bool:
        """SIGTERM the group, SIGKILL whatever is left after the grace period; True if graceful.

        Returns once no process of the group is left (or after a further few seconds, which
        only a process stuck in the kernel can cause).
        """
        if self.proc is None or self._stopped:
            return True
        pgid = self.proc.pid
        graceful = True
        if group_alive(pgid):
            self.signal(signal.SIGTERM)
            graceful = self._wait_group(pgid, grace_seconds)
            if not graceful:
                self.signal(signal.SIGKILL)
                self._wait_group(pgid, 5.0)
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
            self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._stopped = True
        return graceful

    def _wait_group(self, pgid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc is not None:
                self.proc.poll()  # reap the leader so it does not linger as a zombie
            if not group_alive(pgid):
                return True
            time.sleep(0.1)
        return not group_alive(pgid)


def wait_for_http(url: str, *, timeout_seconds: float, process: ProcessGroup | None = None) -> bool:
    """Poll ``url`` until it answers 200; False on timeout or if ``process`` exits first."""
    import httpx

    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if process is not None and process.exit_code() is not None:
            return False
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False
