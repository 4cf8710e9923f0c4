"""`hotline run`'s stop signals before its event loop runs: kept as a request, never an
exception raised wherever the main thread was (controller/stop_requests.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.app import run_until_signal
from controller.stop_requests import SIGNALS, StopRequests


@pytest.mark.parametrize("sig", SIGNALS)
def test_a_stop_signal_is_kept_as_a_request_and_raised_only_when_checked(
    handlers: None, sig: int
) -> None:
    stop = StopRequests()
    stop.install()
    stop.check()  # nothing asked yet
    os.kill(os.getpid(), sig)  # handled on the main thread, at the next bytecode
    assert stop.requested()
    with pytest.raises(KeyboardInterrupt):
        stop.check()


class FakeHotline:
    """What run_until_signal needs of a Hotline: the order of stop and run."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def stop(self) -> None:
        self.calls.append("stop")

    async def run(self, on_ready: Callable[[Any], None]) -> None:
        self.calls.append("run")


@pytest.mark.parametrize(("asked", "calls"), [(True, ["stop", "run"]), (False, ["run"])])
def test_a_stop_asked_before_the_loop_stops_the_run_at_once(
    handlers: None, asked: bool, calls: list[str]
) -> None:
    hotline = FakeHotline()
    asyncio.run(run_until_signal(hotline, lambda h: None, lambda: asked))  # type: ignore[arg-type]
    assert hotline.calls == calls


def _catches(pid: int, sig: int) -> bool:
    """Whether process `pid` has a handler for `sig` (its SigCgt mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    return False


def test_ctrl_c_while_the_command_is_imported_ends_it_with_130() -> None:
    """SIGINT once the `hotline` command has taken SIGTERM (its first act), while it
    imports the rest: it exits 130, the Ctrl-C neither lost (pydantic's validators being
    built reported Python's KeyboardInterrupt as ignored, and the command went on) nor a
    traceback."""
    hotline = Path(sys.executable).with_name("hotline")
    proc = subprocess.Popen(
        [str(hotline), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 10
    while not _catches(proc.pid, signal.SIGTERM):
        assert time.monotonic() < deadline and proc.poll() is None, "never took SIGTERM"
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "usage:" not in out
