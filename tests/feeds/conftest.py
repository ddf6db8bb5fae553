"""Raw-socket servers for failures pytest-httpserver cannot produce (resets, silence)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts TCP connections (via the backlog) and never says a word."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"
    finally:
        sock.close()


@pytest.fixture
def resetting_server() -> Iterator[str]:
    """A server that reads the request, then aborts the connection with a TCP RST."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            try:
                conn.settimeout(2)
                conn.recv(65536)
            except OSError:
                pass
            # SO_LINGER with a zero timeout turns close() into a reset.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/feed.xml"
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()
