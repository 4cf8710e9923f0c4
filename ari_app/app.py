"""The Stasis application: routes ARI events to the calls they belong to."""

from __future__ import annotations

import asyncio
import logging

from ari_app.call import CallSession, VoiceRuntime, channel_of
from ari_app.client import Event

log = logging.getLogger(__name__)


class StasisApp:
    def __init__(self, runtime: VoiceRuntime) -> None:
        self.runtime = runtime
        self.calls: dict[str, CallSession] = {}
        self._tasks: set[asyncio.Task] = set()

    async def handle(self, event: Event) -> None:
        kind = event["type"]
        if kind == "StasisStart":
            args = event.get("args") or []
            if args[:1] == ["inbound"]:
                self._start_call(event["channel"])
                return
        channel_id = channel_of(event)
        call = self.calls.get(channel_id) if channel_id else None
        if call is not None:
            call.deliver(event)

    def _start_call(self, channel: Event) -> None:
        call = CallSession(self.runtime, channel)
        self.calls[call.channel_id] = call
        task = asyncio.create_task(self._run(call), name=f"call-{call.channel_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, call: CallSession) -> None:
        try:
            await call.run()
        except Exception:
            log.exception("call %s failed", call.channel_id)
        finally:
            self.calls.pop(call.channel_id, None)

    async def on_disconnect(self, reason: str) -> None:
        """Asterisk went away: its channels went with it."""
        for call in list(self.calls.values()):
            call.deliver({"type": "StasisEnd", "channel": {"id": call.channel_id}, "lost": reason})

    async def drain(self, timeout: float = 10) -> None:
        """Wait for running calls to finish their bookkeeping (on shutdown)."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)

    @property
    def active_calls(self) -> int:
        return len(self.calls)
