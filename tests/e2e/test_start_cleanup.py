"""A start that fails leaves nothing running: `hotline run` interrupted while its
Asterisk boots stops that Asterisk itself, and the tests' own helper (`stop_spawned`,
which every e2e fixture's failed start goes through) kills what a killed `hotline run`
left (its Asterisk runs in a session of its own, so nobody else would).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    RunningHotline,
    instance_asterisk,
    spawn,
    stop_spawned,
    wait_ready,
)
from tests.e2e.conftest import test_config as config_for_test

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def started(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RunningHotline]:
    """`hotline run` on its own instance and ports, not waited for."""
    name = f"start-{request.node.name.split('_')[1]}-{os.getpid()}"
    running = spawn(config_for_test(name), tmp_path)
    try:
        yield running
    finally:
        stop_spawned(running)


def _asterisk_up(running: RunningHotline, timeout: float = 60) -> list[int]:
    """Until the instance's Asterisk process exists (booting or booted): its pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = instance_asterisk(running.instance_dir())
        if pids:
            return pids
        assert running.proc.poll() is None, running.log_tail()
        time.sleep(0.05)
    raise AssertionError(f"no Asterisk started in {timeout:g} s\n{running.log_tail()}")


def test_ctrl_c_while_asterisk_boots_stops_it(started: RunningHotline) -> None:
    """SIGINT as soon as Asterisk's process exists (it is booting: `hotline run` waits
    for `core waitfullybooted`): `hotline run` exits and its Asterisk is gone, without
    the tests' helper killing anything."""
    pids = _asterisk_up(started)
    started.proc.send_signal(signal.SIGINT)
    code = started.proc.wait(60)
    left = instance_asterisk(started.instance_dir())
    assert left == [], (pids, left, started.log_tail())
    # 130: interrupted while Asterisk booted (KeyboardInterrupt); 0: it had booted
    # already and the running controller stopped on the signal.
    assert code in (0, 130), (code, started.log_tail())
    assert "stopping Asterisk" in started.log.read_text() or code == 130


def test_a_failed_start_killed_leaves_no_asterisk(started: RunningHotline) -> None:
    """A start the tests give up on (wait_ready's timeout) and a `hotline run` that has
    to be killed: stop_spawned kills the Asterisk it left, whose folder then goes."""
    _asterisk_up(started)
    with pytest.raises(RuntimeError, match="did not become ready"):
        wait_ready(started, timeout=0)
    started.proc.kill()  # what stop_spawned does to one that ignores its SIGINT
    started.proc.wait()
    assert instance_asterisk(started.instance_dir()), "the killed run took its Asterisk along?"
    killed = stop_spawned(started)
    assert killed, started.log_tail()
    assert instance_asterisk(started.instance_dir()) == []
    assert not started.instance_dir().exists()
