"""A private nats-server for tests (Debian's `nats-server`), on a free loopback port.

    from tests.nats import nats_server  # noqa: F401  (pytest fixture)

    async def test_something(nats_server):
        nc = await connect([nats_server.url], "test")

`nats_server` (function scope) starts one server per test and stops it after; it can be
stopped and started again on the same port (`stop`, `start`) to show what a bus outage
does. Without the binary it skips, or fails if HOTLINE_REQUIRE_NATS=1 (CI).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.ports import free_port

REQUIRE_ENV = "HOTLINE_REQUIRE_NATS"


class NatsServer:
    """One nats-server process on 127.0.0.1:`port`, its log in `log`."""

    def __init__(self, binary: str, log: Path, port: int | None = None) -> None:
        self.binary = binary
        self.log = log
        self.port = port or free_port(seconds=900)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-a", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"nats-server exited:\n{self.log.read_text()}"
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen on {self.port}:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


def nats_binary() -> str | None:
    return shutil.which("nats-server") or (
        "/usr/bin/nats-server" if Path("/usr/bin/nats-server").exists() else None
    )


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    binary = nats_binary()
    if binary is None:
        message = "nats-server not installed (Debian package nats-server; scripts/setup.sh test)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = NatsServer(binary, tmp_path / "nats.log").start()
    try:
        yield server
    finally:
        server.stop()
