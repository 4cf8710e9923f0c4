"""Ctrl-C and SIGTERM while `hotline run` starts: a request to stop, taken at safe points.

Python turns SIGINT into KeyboardInterrupt wherever the main thread happens to be; raised
inside a C extension's callback (pydantic-core building a validator, for one) it is
reported as "Exception ignored" and lost, and `hotline run` went on to serve as if never
asked to stop (a loaded test run found it). SIGTERM, left to its default, killed the
process and left the Asterisk it had started running in a session of its own. So from
the start both only set a flag: the start checks it between its steps (one asked
while Asterisk boots is taken once it is up, and stops it), and the event loop, once
its own handlers are installed, stops at once if it was set meanwhile. The `hotline`
command installs it before importing the rest (controller/main.py): importing builds
pydantic's validators, where a Ctrl-C was lost too. The other commands that serve
(`hotline routing`, `hotline web`) keep the requests too and stop once their loop runs;
the rest put Python's handlers back, after a last check.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """The stop signals seen since `install`."""

    def __init__(self) -> None:
        self._seen = threading.Event()
        self._before: dict[int, Any] = {}

    def install(self) -> None:
        """From now on SIGINT and SIGTERM are requests (the main thread only)."""
        for sig in SIGNALS:
            before = signal.signal(sig, self._on_signal)
            self._before.setdefault(sig, before)

    def uninstall(self) -> None:
        """The handlers there were before `install` (a request already seen stays)."""
        for sig, before in self._before.items():
            signal.signal(sig, before)
        self._before.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._seen.set()

    def requested(self) -> bool:
        return self._seen.is_set()

    def check(self) -> None:
        """Raise KeyboardInterrupt (`hotline run` exits 130) if a stop was asked for."""
        if self.requested():
            raise KeyboardInterrupt
