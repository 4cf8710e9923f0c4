"""An aiohttp app served on 127.0.0.1 from an event loop in a thread of its own, so
that hypothesis and schemathesis (synchronous) can drive it over real HTTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Self

from aiohttp import web

from tests.e2e.ports import free_port


class ServedInThread:
    """Subclasses build the app in `_start` (ending with `await self._serve(app)`) and
    release what they made in `_close`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    async def _serve(self, app: web.Application) -> None:
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run `coro` on the app's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)

    def start(self) -> Self:
        self.thread.start()
        assert self.ready.wait(30)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self.runner is not None:
                await self.runner.cleanup()
            await self._close()

        self.call(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
