"""Free loopback ports for the servers a test starts, never the same for two test processes.

A port that is free now may be taken a moment later by another process that asked the
kernel for "any free port" too; with parallel workers (pytest-xdist) and several test
sessions on one machine that race is real, and an Asterisk RTP range is not even bound
until a call needs it. So ports are handed out below the kernel's ephemeral range
(32768-60999 on Linux, which it picks from for its own), and every port handed out is
recorded in a small lease file shared by all test processes on the machine (locked with
flock). Ranges (Asterisk's RTP) come first-fit from one region, single ports at random
from another, so that scattered single ports never leave no room for a range.

A lease lasts until its process ends (`hold`: a server configured for the whole session)
or for a number of seconds (long enough to bind the port, or to outlive the one test
that uses it); expired leases and those of dead processes are dropped.
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

#: Asterisk RTP ranges, first fit.
RANGES = (10000, 28000)
#: Single ports, at random.
SINGLES = (28000, 32700)
#: How long a single port not held for the whole process stays reserved (to bind it).
LEASE_SECONDS = 60.0
LEASES = Path(tempfile.gettempdir()) / "hotline-test-ports.json"

#: A lease: [first port, how many, pid, expiry (time.time()) or 0: until the pid ends].
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


def _unbindable(start: int, end: int, kind: int) -> int | None:
    """The first port in [start, end) that cannot be bound now, or None."""
    for port in range(start, end):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return port
    return None


def _overlap(start: int, end: int, leases: list[Lease]) -> int | None:
    """The end of a lease that overlaps [start, end), or None."""
    for first, size, *_ in leases:
        if start < first + size and first < end:
            return int(first + size)
    return None


def _expiry(hold: bool, seconds: float) -> float:
    return 0.0 if hold else time.time() + seconds


def free_port(
    kind: str = "tcp", even: bool = False, *, hold: bool = False, seconds: float = LEASE_SECONDS
) -> int:
    """A loopback port free now and reserved against other test processes (RTP wants an
    even one) for `seconds`, or with `hold` until this process ends. `kind` "sip": a
    SIP phone's listening port, free for UDP and TCP, with the next one (baresip listens
    on UDP and TCP there and on TCP for TLS next to it: a leased UDP port alone was once
    taken on TCP, and the phone could not start)."""
    types = {
        "tcp": (socket.SOCK_STREAM,),
        "udp": (socket.SOCK_DGRAM,),
        "sip": (socket.SOCK_DGRAM, socket.SOCK_STREAM),
    }[kind]
    size = 2 if kind == "sip" else 1
    with _leases() as leases:
        for _ in range(1000):
            port = random.randrange(*SINGLES)
            if even:
                port -= port % 2
            if _overlap(port, port + size, leases) is None and all(
                _unbindable(port, port + size, sock_type) is None for sock_type in types
            ):
                leases.append([port, size, os.getpid(), _expiry(hold, seconds)])
                return port
    raise RuntimeError(f"no free port left between {SINGLES[0]} and {SINGLES[1]}")


def free_range(size: int, *, hold: bool = True, seconds: float = 0.0) -> int:
    """The even start of `size` consecutive UDP ports free now (for Asterisk's RTP),
    reserved until this process ends, or without `hold` for `seconds`."""
    with _leases() as leases:
        start = RANGES[0]
        while start + size <= RANGES[1]:
            busy = _overlap(start, start + size, leases)
            if busy is None:
                taken = _unbindable(start, start + size, socket.SOCK_DGRAM)
                if taken is None:
                    leases.append([start, size, os.getpid(), _expiry(hold, seconds)])
                    return start
                busy = taken + 1
            start = busy + busy % 2
    raise RuntimeError(f"no {size} consecutive free ports left between {RANGES[0]} and {RANGES[1]}")
