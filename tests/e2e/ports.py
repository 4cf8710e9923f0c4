"""Free loopback ports for the servers a test starts, never the same for two test processes.

A port that is free now may be taken a moment later by another process that asked the
kernel for "any free port" too; with parallel workers (pytest-xdist) and several test
sessions on one machine that race is real, and an Asterisk RTP range is not even bound
until a call needs it. So ports are handed out from a range the kernel never picks for
its own ephemeral ports (below `ip_local_port_range`), and every port handed out is
recorded in a small lease file shared by all test processes on the machine (locked with
flock). A lease lasts until its process ends (`hold=True`, what servers configured at
start-up and Asterisk RTP ranges need) or for `LEASE_SECONDS` (a port bound at once, such
as a SIPp caller's); expired leases and those of dead processes are dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

#: Where ports are handed out: below the kernel's ephemeral range (32768-60999 on Linux).
LOW, HIGH = 10000, 32000
#: How long a port not held for the whole process stays reserved (time to bind it).
LEASE_SECONDS = 120.0
LEASES = Path(tempfile.gettempdir()) / "hotline-test-ports.json"

#: A lease: [first port, how many, pid, expiry (monotonic-free wall clock) or 0 = held].
Lease = list[float]


@contextlib.contextmanager
def _leases() -> Iterator[list[Lease]]:
    """The live leases, under an exclusive lock; changes to the list are saved."""
    with open(f"{LEASES}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            try:
                leases: list[Lease] = json.loads(LEASES.read_text() or "[]")
            except (OSError, ValueError):
                leases = []
            now = time.time()
            leases = [x for x in leases if _alive(int(x[2])) and (not x[3] or x[3] > now)]
            yield leases
            tmp = LEASES.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(leases))
            tmp.replace(LEASES)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _bindable(port: int, kinds: tuple[int, ...]) -> bool:
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _lease(size: int, kinds: tuple[int, ...], even: bool, hold: bool) -> int:
    with _leases() as leases:
        for _ in range(500):
            start = random.randrange(LOW, HIGH - size)
            if even:
                start -= start % 2
            end = start + size
            if any(start < x[0] + x[1] and x[0] < end for x in leases):
                continue
            if all(_bindable(port, kinds) for port in range(start, end)):
                expiry = 0.0 if hold else time.time() + LEASE_SECONDS
                leases.append([start, size, os.getpid(), expiry])
                return start
    raise RuntimeError(f"no {size} free port(s) found between {LOW} and {HIGH}")


def free_port(kind: str = "tcp", even: bool = False, *, hold: bool = False) -> int:
    """A loopback port free now and reserved against other test processes (RTP wants an
    even one); `hold`: reserved until this process ends, not only long enough to bind it."""
    sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    return _lease(1, (sock_type,), even, hold)


def free_range(size: int) -> int:
    """The even start of `size` consecutive UDP ports that are free now (for Asterisk's
    RTP), reserved until this process ends."""
    return _lease(size, (socket.SOCK_DGRAM,), True, True)
