"""The Stasis application: routes ARI events to the calls they belong to.

Channels enter Stasis with arguments saying why (dialplan/extensions.conf.j2):
- `inbound`: a call to a hotline number; a new call session runs its flow.
- `transfer,<caller channel>`: an outbound leg a call's transfer originated; its
  events go to that call (the call `follow`s the leg's channel id).
- `queue,<queue>,<contact id>,<language>`: a call handed over from a FastAGI flow's
  `queue` node; it is queued for that contact, and the outcome is returned to the
  dialplan (see `agi/`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ari_app.call import CallSession
from ari_app.client import AriClient, AriError, Event
from ari_app.contact import VoiceRuntime
from ari_app.voice_port import channel_of

log = logging.getLogger(__name__)

#: Hands a channel from another runtime to the routing engine:
#: (channel id, queue, contact id, language) -> queue outcome.
QueueHandoff = Callable[[str, str, str, str], Awaitable[str]]

#: The channel variable a queue hand-off's outcome is returned in.
QUEUE_OUTCOME_VARIABLE = "HOTLINE_QUEUE_OUTCOME"


class StasisApp:
    def __init__(
        self, runtime: VoiceRuntime, ari: AriClient, queue_handoff: QueueHandoff | None = None
    ) -> None:
        self.runtime = runtime
        self.ari = ari
        self.queue_handoff = queue_handoff
        self.calls: dict[str, CallSession] = {}
        #: Channels whose events go to a call other than their own (transfer legs).
        self.followed: dict[str, CallSession] = {}
        self._tasks: set[asyncio.Task] = set()

    async def handle(self, event: Event) -> None:
        kind = event["type"]
        if kind == "StasisStart":
            args = event.get("args") or []
            if args[:1] == ["inbound"]:
                self._start_call(event["channel"])
                return
            if args[:1] == ["queue"] and event["channel"]["id"] not in self.followed:
                self._spawn(self._queue(event["channel"]["id"], args[1:]), "queue")
                return
        channel_id = channel_of(event)
        if channel_id is None:
            return
        call = self.calls.get(channel_id) or self.followed.get(channel_id)
        if call is not None:
            call.deliver(event)

    def _start_call(self, channel: Event) -> None:
        call: CallSession

        def follow(other: str, on: bool) -> None:
            if on:
                self.followed[other] = call
            else:
                self.followed.pop(other, None)

        call = CallSession(self.runtime, self.ari, channel, follow)
        self.calls[call.channel_id] = call
        self._spawn(self._run(call), f"call-{call.channel_id}")

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, call: CallSession) -> None:
        try:
            await call.run()
        except Exception:
            log.exception("call %s failed", call.channel_id)
        finally:
            self.calls.pop(call.channel_id, None)

    async def _queue(self, channel_id: str, args: list[str]) -> None:
        """A FastAGI flow's `queue` node: queue the channel, then give it back to the
        dialplan (and so to the AGI flow) with the outcome in a channel variable."""
        outcome = "closed"
        try:
            if len(args) != 3 or self.queue_handoff is None:
                log.warning(
                    "channel %s: queue hand-off needs queue,contact,language: %s", channel_id, args
                )
                outcome = "error"
            else:
                queue, contact_id, language = args
                outcome = await self.queue_handoff(channel_id, queue, contact_id, language)
        except Exception:
            log.exception("channel %s: queue hand-off failed", channel_id)
            outcome = "error"
        try:
            await self.ari.set_variable(channel_id, QUEUE_OUTCOME_VARIABLE, outcome)
            await self.ari.request("POST", f"channels/{channel_id}/continue")
        except AriError as error:  # the caller left meanwhile: the AGI side sees that
            log.info("channel %s: cannot return from the queue: %s", channel_id, error)

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
