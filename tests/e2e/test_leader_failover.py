"""A routing leader candidate (`hotline routing`) as a real process, for the cluster
tests (test_cluster_worker, test_cluster_callbacks, test_edge, test_web_tier, ...).

Its failovers are shown where calls flow: kill -9 of the leader under steady calls in
tests/e2e/test_edge.py (the standby leading within KILL_BOUND, the waiting and talking
callers taken over, no event of the old epoch after the new one's first), SIGSTOP past
its lease then SIGCONT in tests/e2e/test_cluster_worker.py (the standby leading within
STOP_BOUND, the resumed leader exiting EXIT_LOST, having lost leadership, writing
nothing more). This module's own two tests of the same (three callers seeded in the
log, no Asterisk) were removed as duplicates in session 9.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HOTLINE = Path(sys.executable).with_name("hotline")
#: Short for quick takeovers, not shorter: the leader's heartbeat times out at half a
#: lease, and a 2 s lease lost its leadership to a 1 s stall of a CI machine running four
#: workers on two cores (the leader exits; nothing restarted it: no routing after).
LEASE = 3.0
#: The standby's takeover after a kill -9: the lock is free at once, the standby
#: tries every 0.5 s (about 0.5 s measured); the rest is room for a loaded machine.
KILL_BOUND = 4.0
#: After a SIGSTOP: the lease (from the leader's last heartbeat, 0.75 to 1 lease before
#: the pause), then the standby's next try.
STOP_BOUND = LEASE + 3.0


class Candidate:
    """One `hotline routing` process (`extra`: more of its arguments), its output in a
    file."""

    def __init__(self, config: Path, name: str, log: Path, *extra: str) -> None:
        self.name = name
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [
                *(str(HOTLINE), "--config", str(config), "routing"),
                *("--name", name, "--lease", str(LEASE), *extra),
            ],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, words: str, timeout: float = 30.0) -> float:
        """When `words` appeared in the output (monotonic); fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if words in self.text():
                return time.monotonic()
            assert self.proc.poll() is None, f"{self.name} exited:\n{self.text()}"
            time.sleep(0.02)
        raise AssertionError(f"{self.name} never said {words!r}:\n{self.text()}")

    def end(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(10)
        self._out.close()
