"""The event loop the long-running processes run on: uvloop when it is there, else asyncio's.

uvloop (libuv) does the loop's own work (polling, sockets, timers, callbacks) in C:
under SIPp load it cut the controller's CPU per call (docs/benchmarks.md, "Session 8").
`HOTLINE_EVENT_LOOP=asyncio` runs on the standard library's loop instead (to compare,
or to rule uvloop out when chasing a problem).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The environment variable that chooses the loop.
VARIABLE = "HOTLINE_EVENT_LOOP"
CHOICES = ("uvloop", "asyncio")


class EventLoopError(ValueError):
    """The loop asked for cannot be used."""


def loop_factory(choice: str | None = None) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loop's name and a factory for it: `choice`, else the environment's, else uvloop
    if it is installed (asyncio's otherwise)."""
    wanted = (choice if choice is not None else os.environ.get(VARIABLE, "")).strip().lower()
    if wanted not in ("", *CHOICES):
        raise EventLoopError(
            f"{VARIABLE}={wanted!r}: expected one of {', '.join(CHOICES)} (or unset)"
        )
    if wanted == "asyncio":
        return "asyncio", asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if wanted == "uvloop":
            raise EventLoopError(
                f"{VARIABLE}=uvloop but uvloop is not installed (pip install uvloop)"
            ) from None
        return "asyncio", asyncio.new_event_loop
    return "uvloop", uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], choice: str | None = None) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    try:
        name, factory = loop_factory(choice)
    except EventLoopError:
        main.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    log.info("event loop: %s", name)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
