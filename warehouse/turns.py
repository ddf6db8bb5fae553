"""Taking turns at the DuckDB file between silkwatch processes, first come first served.

DuckDB lets one process hold a file and refuses every other one outright; it never queues
them. A process that polls for the file can therefore lose every race against one that
closes and reopens it at once: two shards sharing a file save batch after batch, and with
DuckDB 1.5 each save holds the file for up to a second (its checkpoint on close), so in a
benchmark one shard gave up after its 10 s ``busy_timeout``. Two lock files beside the
database make a turnstile: take the queue, then the turn, then leave the queue. Whoever
holds the turn can come back only through the queue, behind every process already waiting.

Within one process DuckDB shares one database instance between connections, so nested or
concurrent opens there need no turn: the first one takes it for the whole process.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from silkwatch.errors import DatabaseBusyError

try:
    import fcntl
except ImportError:  # not POSIX: DuckDB's own lock and our retries are all there is
    fcntl = None  # type: ignore[assignment]

__all__ = ["take_turn"]

_held: Counter[str] = Counter()  # path -> opens in this process that hold its turn
_held_lock = threading.Lock()
_FIRST_WAIT, _MAX_WAIT = 0.002, 0.05


def _lock(fh: IO[bytes], deadline: float, path: Path) -> None:
    wait = _FIRST_WAIT
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise DatabaseBusyError(
                    str(path), "another silkwatch process is using it; try again when it finishes"
                ) from None
            time.sleep(wait)
            wait = min(wait * 2, _MAX_WAIT)


@contextmanager
def take_turn(path: Path, *, timeout: float) -> Iterator[None]:
    """Hold this process's turn at ``path`` for the ``with`` block, waiting up to ``timeout``.

    Where the lock files cannot be created (a read-only folder), there is no turnstile and
    DuckDB's own lock decides, as before.
    """
    key = str(Path(path).resolve())
    with _held_lock:
        if _held[key]:
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered or fcntl is None:
        try:
            yield
        finally:
            if reentered:
                with _held_lock:
                    _held[key] -= 1
        return
    with ExitStack() as stack:
        try:
            queue = stack.enter_context(open(f"{key}.queue", "ab"))
            turn = stack.enter_context(open(f"{key}.turn", "ab"))
        except OSError:
            yield
            return
        deadline = time.monotonic() + timeout
        _lock(queue, deadline, path)
        try:
            _lock(turn, deadline, path)
        finally:
            fcntl.flock(queue, fcntl.LOCK_UN)
        with _held_lock:
            _held[key] += 1
        try:
            yield
        finally:
            with _held_lock:
                _held[key] -= 1
            fcntl.flock(turn, fcntl.LOCK_UN)
