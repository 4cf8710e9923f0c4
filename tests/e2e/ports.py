"""Free loopback ports for the servers a test starts."""

from __future__ import annotations

import socket


def free_port(kind: str = "tcp", even: bool = False) -> int:
    """A port free on 127.0.0.1 right now (RTP wants an even one)."""
    sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    for _ in range(100):
        with socket.socket(socket.AF_INET, sock_type) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if not even or (port % 2 == 0 and port < 65000):
            return port
    raise RuntimeError("no free port found")


def free_range(size: int) -> int:
    """The start of `size` consecutive UDP ports that are free now (for Asterisk's RTP)."""
    for _ in range(200):
        start = free_port("udp", even=True)
        if start + size > 65000:
            continue
        ok = True
        for port in range(start, start + size):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return start
    raise RuntimeError("no free port range found")
