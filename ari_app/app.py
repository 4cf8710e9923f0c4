"""The Stasis application: routes ARI events to the calls they belong to.

Channels enter Stasis with arguments saying why (dialplan/extensions.conf.j2):
- `inbound`: a call to a hotline number; a new call session runs its flow. (One an
  agent's phone places while its agent talks with a caller under call control is a
  consultation of that call: `AriCallControl.line_of`.)
- `transfer,<caller channel>`: an outbound leg a call's transfer originated; its
  events go to that call (the call `follow`s the leg's channel id).
- `queue,<queue>,<contact id>,<language>,<priority>,<skills>,<max wait>` (`voice/handoff.py`):
  a call handed over from a FastAGI flow's `queue` node; it is queued for that
  contact, and the outcome is returned to the dialplan (see `agi/`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from ari_app.admission import TurnAway
from ari_app.call import CallSession
from ari_app.client import AriClient, AriError, AriEvent
from ari_app.events import channel_of
from ari_app.features import Features, run_feature
from ari_app.queueing import Queueing, VoiceQueue
from ari_app.speech import SpeechSettings, VoiceSpeech
from ari_app.voice_port import Emit, VoicePort
from hotline.flows.port import CallerGone
from hotline.flows.services import QueueRequest
from hotline.overload import Admission
from voice import handoff
from voice.contact import VoiceRuntime

log = logging.getLogger(__name__)


class StasisApp:
    def __init__(
        self,
        runtime: VoiceRuntime,
        ari: AriClient,
        features: Features | None = None,
        speech: SpeechSettings | None = None,
        queueing: Queueing | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.runtime = runtime
        self.ari = ari
        #: The routing engine and how queues sound; None: queues answer "closed".
        self.queueing = queueing
        self.features = features
        #: Spoken answers for inbound calls; None: keys only.
        self.speech = speech
        self.calls: dict[str, CallSession] = {}
        #: Where the events of channels that are not a call's own go: transfer and
        #: agent legs to their call, channels handed over from FastAGI to their port.
        self.followed: dict[str, Callable[[AriEvent], None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: Turns new calls away under overload (None: every call is taken).
        self.door = (
            TurnAway(ari, admission, self._refused_port, runtime.default_language)
            if admission is not None
            else None
        )

    async def handle(self, event: AriEvent) -> None:
        kind = event["type"]
        if kind == "StasisStart":
            args = event.get("args") or []
            if args[:1] == ["inbound"]:
                self._inbound(event["channel"])
                return
            if args[:1] == ["queue"] and event["channel"]["id"] not in self.followed:
                self._spawn(self._queue(event["channel"]["id"], args[1:]), "queue")
                return
            if args[:1] == ["feature"] and self.features is not None:
                self._spawn(self._feature(event["channel"], args[1:]), "feature")
                return
        channel_id = channel_of(event)
        if channel_id is None:
            return
        call = self.calls.get(channel_id)
        deliver = call.deliver if call is not None else self.followed.get(channel_id)
        if deliver is not None:
            deliver(event)

    def _inbound(self, channel: AriEvent) -> None:
        """A new call: taken, unless the overload admission turns it away."""
        calls = self.queueing.calls if self.queueing is not None else None
        contact = calls.line_of(channel) if calls is not None else None
        if calls is not None and contact is not None:  # the agent consults from the phone
            self._spawn(calls.consult_from_phone(contact, channel), f"line-{channel['id']}")
            return
        door = self.door
        refused = door.refuse() if door is not None else None
        if door is None or refused is None:
            self._start_call(channel)
        else:
            self._spawn(door.turn_away(channel["id"], refused), f"refused-{channel['id']}")

    def _start_call(self, channel: AriEvent) -> None:
        call: CallSession

        call = CallSession(
            self.runtime,
            self.ari,
            channel,
            self._follower(lambda e: call.deliver(e)),
            self.queueing,
        )
        if self.speech is not None:
            call.port.speech = VoiceSpeech(self.ari, self.speech, call.channel_id)
        self.calls[call.channel_id] = call
        self._spawn(self._run(call), f"call-{call.channel_id}")

    def _follower(self, deliver: Callable[[AriEvent], None]) -> Callable[[str, bool], None]:
        """What a port calls to have another channel's events (a leg's) sent to it."""

        def follow(other: str, on: bool) -> None:
            if on:
                self.followed[other] = deliver
            else:
                self.followed.pop(other, None)

        return follow

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
            # Whatever broke (the store, say), the caller must not be left in Stasis
            # unanswered or in silence: end the call.
            with contextlib.suppress(AriError):
                await self.ari.hangup(call.channel_id, reason="congestion")
        finally:
            await call.port.close_speech()
            self.calls.pop(call.channel_id, None)

    async def _queue(self, channel_id: str, args: list[str]) -> None:
        """A FastAGI flow's `queue` node: queue the channel, then give it back to the
        dialplan (and so to the AGI flow) with the outcome in a channel variable."""
        outcome = "closed"
        queueing = self.queueing
        try:
            request, contact_id = handoff.decode(args)
            if queueing is not None:
                outcome = await self._wait_in_queue(queueing, channel_id, request, contact_id)
        except handoff.BadHandoff as error:
            log.warning("channel %s: %s", channel_id, error)
            outcome = "error"
        except CallerGone:
            return
        except Exception:
            log.exception("channel %s: queue hand-off failed", channel_id)
            outcome = "error"
        try:
            await self.ari.set_variable(channel_id, handoff.QUEUE_OUTCOME_VARIABLE, outcome)
            await self.ari.request("POST", f"channels/{channel_id}/continue")
        except AriError as error:  # the caller left meanwhile: the AGI side sees that
            log.info("channel %s: cannot return from the queue: %s", channel_id, error)

    async def _wait_in_queue(
        self, queueing: Queueing, channel_id: str, request: QueueRequest, contact_id: str
    ) -> str:
        store = self.runtime.store

        async def emit(kind: str, data: dict[str, Any]) -> None:
            await store.append(contact_id, kind, data)

        with self._port(channel_id, emit) as port:
            # A FastAGI call: its contact runs on the AGI side, told from here.
            run = self.runtime.runs.get(contact_id)
            return await VoiceQueue(queueing, port, contact_id, run).run(request)

    async def _feature(self, channel: AriEvent, args: list[str]) -> None:
        assert self.features is not None

        # A feature call's prompts belong to no contact: only logged.
        async def emit(kind: str, data: dict[str, Any]) -> None:
            log.debug("feature call %s: %s %s", channel["id"], kind, data)

        try:
            with self._port(channel["id"], emit) as port:
                await run_feature(self.features, port, channel, args)
        except AriError as error:
            log.info("feature call %s: %s", channel["id"], error)

    def _refused_port(self, channel_id: str) -> contextlib.AbstractContextManager[VoicePort]:
        """A port for a call turned away with a message: no contact, prompts only logged."""

        async def emit(kind: str, data: dict[str, Any]) -> None:
            log.debug("refused call %s: %s %s", channel_id, kind, data)

        return self._port(channel_id, emit)

    def take_over(
        self,
        channel_id: str,
        emit: Emit,
        work: Callable[[VoicePort], Awaitable[None]],
        legs: Iterable[str] = (),
    ) -> None:
        """Run `work` on a voice port for a channel a previous controller left in Stasis
        (ari_app/recovery.py). The channel's events and its `legs`' go to that port from
        now on, before `work` starts: none is dropped meanwhile."""
        routed = contextlib.ExitStack()
        port = routed.enter_context(self._port(channel_id, emit))
        for leg in legs:
            port.follow(leg, True)

        async def run() -> None:
            try:
                await work(port)
            except Exception:
                log.exception("recovered channel %s failed", channel_id)
                with contextlib.suppress(AriError):
                    await self.ari.hangup(channel_id, reason="congestion")
            finally:
                for leg in legs:
                    port.follow(leg, False)
                routed.close()

        self._spawn(run(), f"recovered-{channel_id}")

    def restart_call(self, channel: AriEvent) -> None:
        """A caller left in the middle of a flow by a previous controller: the number's
        flow starts again, as a new contact."""
        if channel["id"] not in self.calls:
            self._start_call(channel)
            # Its music class is what the old controller left (a queue's): not known.
            self.calls[channel["id"]].port.music_class = None

    def owns(self, channel_id: str) -> bool:
        """A call session or port of this controller handles the channel."""
        return channel_id in self.calls or channel_id in self.followed

    @property
    def contact_ids(self) -> set[str]:
        """The contacts of this controller's running call sessions."""
        return {c.contact_id for c in self.calls.values() if c.contact_id is not None}

    def port_for(self, channel_id: str, emit: Emit) -> contextlib.AbstractContextManager[VoicePort]:
        """A voice port for a channel this controller made itself (an outbound call's
        customer leg, ari_app/outbound.py), its events routed to the port meanwhile."""
        return self._port(channel_id, emit)

    @contextlib.contextmanager
    def _port(self, channel_id: str, emit: Emit) -> Iterator[VoicePort]:
        """A voice port for a channel that is no call session's own, with its events
        (and its legs') routed to it while the block runs."""
        port = VoicePort(
            self.ari,
            channel_id,
            self.runtime.prompts,
            emit,
            recordings=self.runtime.recordings,
            follow=self._follower(lambda e: port.deliver(e)),
        )
        self.followed[channel_id] = port.deliver
        try:
            yield port
        finally:
            self.followed.pop(channel_id, None)

    async def on_disconnect(self, reason: str) -> None:
        """Asterisk went away: its channels went with it."""
        for call in list(self.calls.values()):
            call.deliver({"type": "StasisEnd", "channel": {"id": call.channel_id}, "lost": reason})
        for channel_id, deliver in list(self.followed.items()):
            deliver({"type": "StasisEnd", "channel": {"id": channel_id}, "lost": reason})
        if self.queueing is not None:
            self.queueing.bridges.forget()

    async def drain(self, timeout: float = 10) -> None:
        """Wait for running calls to finish their bookkeeping (on shutdown)."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)

    @property
    def active_calls(self) -> int:
        return len(self.calls)
