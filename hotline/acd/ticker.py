"""The routing service's background ticker: applies what time alone changes (ring
timeouts, max wait, wrap-up ends, skill relaxation) every `interval` seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

_logger = logging.getLogger(__name__)


class Ticker:
    """Calls `tick` every `interval` seconds between `start` and `stop`; a failed tick
    is logged and the next one tried."""

    def __init__(self, tick: Callable[[], Awaitable[object]], interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"tick_interval must be > 0, got {interval}")
        self._tick = tick
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start ticking (idempotent)."""
        if not self.running:
            self._task = asyncio.create_task(self._run(), name="routing-ticker")

    async def stop(self) -> None:
        """Stop ticking and wait for the task to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._tick()
            except Exception:
                _logger.exception("routing tick failed; retrying next tick")
