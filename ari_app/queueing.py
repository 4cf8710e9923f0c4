"""A caller's time in a queue over ARI, and the agent who answers.

The routing engine (hotline/acd/service.py) decides who is offered what; this is how it
sounds and rings on Asterisk:

- the caller waits in the queue's holding bridge with its music on hold, hears their
  position (and wait) every so often, and may press the queue's leave key;
- each offer rings the agent's PJSIP endpoint; busy, declined, unanswered or failed
  legs are reported back and the engine offers the caller to the next agent — the
  caller only notices by waiting;
- when the agent answers, caller and agent talk in a mixing bridge. The agent hanging
  up first lets the flow go on from the queue node's `answered` (a survey, a goodbye);
  the caller hanging up ends the flow. Either way the agent goes to wrap-up and no
  channel or bridge is left behind.

Every event of the call — the caller's keys and hang-up, the agent legs' events (the
Stasis app routes them here), and the engine's offers and withdrawals — goes through
the voice port's one ordered inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ari_app.callbacks import number_of
from ari_app.client import AriClient, AriError, AriNotFound, Event
from ari_app.legs import ChannelsGone, clean_up, connect, originate
from ari_app.voice_port import VoicePort, channel_of
from ari_app.waiting import CallerWait, OfferGate
from hotline.acd.decisions import Offer
from hotline.acd.service import Finished, OfferWithdrawn, RoutingService, Ticket, Withdrawn
from hotline.acd.settings import QueueSettings
from hotline.callbacks.service import CallbackService
from hotline.flows.port import CallerGone, Prompt
from hotline.flows.services import QueueRequest

#: The inbox event that carries an item of the contact's routing ticket.
TICKET_EVENT = "HotlineTicket"

#: Hang-up causes (Q.850) of an agent leg that never answered.
BUSY_CAUSES = frozenset({17, 21})
NO_ANSWER_CAUSES = frozenset({18, 19})


def wav_seconds(path: Path | None) -> tuple[float, bool]:
    """How long a WAV file plays (0 when it is not here to read), and whether its
    header is written: Asterisk writes the length into the header when it closes the
    file, a moment after the recording is stopped; until then it says 0 frames while
    the audio is already there."""
    if path is None:
        return 0.0, True
    try:
        with wave.open(str(path)) as audio:
            frames = audio.getnframes()
            seconds = frames / float(audio.getframerate() or 1)
        return seconds, frames > 0 or path.stat().st_size <= WAV_HEADER_BYTES
    except (OSError, EOFError, wave.Error):
        return 0.0, True


async def recorded_seconds(path: Path | None, wait: float = 2.0) -> float:
    """`wav_seconds` once the file's header is written (or `wait` is over)."""
    deadline = time.monotonic() + wait
    while True:
        seconds, written = await asyncio.to_thread(wav_seconds, path)
        if written or time.monotonic() >= deadline:
            return seconds
        await asyncio.sleep(0.05)


#: A canonical WAV header (RIFF, fmt and data chunk headers): a file no longer than
#: this holds no audio.
WAV_HEADER_BYTES = 44


class HoldingBridges:
    """One holding bridge per queue with its music on hold, made when the first caller
    arrives and destroyed when the last one leaves (nothing lingers in Asterisk)."""

    def __init__(self, ari: AriClient) -> None:
        self.ari = ari
        self.members: dict[str, set[str]] = {}
        self.lock = asyncio.Lock()

    async def join(self, queue: str, music: str, channel: str) -> str:
        bridge = f"hold-{queue}"
        async with self.lock:
            if bridge not in self.members:
                await self.ari.request(
                    "POST", "bridges", params={"type": "holding", "bridgeId": bridge}
                )
                await self.ari.request("POST", f"bridges/{bridge}/moh", params={"mohClass": music})
                self.members[bridge] = set()
            await self.ari.request(
                "POST",
                f"bridges/{bridge}/addChannel",
                params={"channel": channel, "role": "participant"},
            )
            self.members[bridge].add(channel)
        return bridge

    async def leave(self, bridge: str, channel: str) -> None:
        async with self.lock:
            members = self.members.get(bridge)
            if members is None or channel not in members:
                return
            members.discard(channel)
            with contextlib.suppress(AriError):
                await self.ari.request(
                    "POST", f"bridges/{bridge}/removeChannel", params={"channel": channel}
                )
            if not members:
                del self.members[bridge]
                with contextlib.suppress(AriError):
                    await self.ari.request("DELETE", f"bridges/{bridge}")

    def forget(self) -> None:
        """Asterisk went away, and its bridges with it."""
        self.members.clear()

    def adopt(self, bridge: str, channels: set[str]) -> None:
        """A bridge a previous controller made, with callers still in it (recovery)."""
        self.members.setdefault(bridge, set()).update(channels)


class LiveRecordings:
    """Conversations being recorded, by contact, so the API can pause and resume them."""

    def __init__(self, ari: AriClient) -> None:
        self.ari = ari
        self.names: dict[str, str] = {}

    async def pause(self, contact_id: str) -> bool:
        return await self._pause(contact_id, "POST")

    async def resume(self, contact_id: str) -> bool:
        return await self._pause(contact_id, "DELETE")

    async def _pause(self, contact_id: str, method: str) -> bool:
        name = self.names.get(contact_id)
        if name is None:
            return False
        try:
            await self.ari.request(method, f"recordings/live/{name}/pause")
        except AriNotFound:
            return False
        return True


@dataclass
class Queueing:
    """What every voice queue wait needs, passed in once."""

    routing: RoutingService
    settings: Mapping[str, QueueSettings]
    #: agent id -> PJSIP endpoint of their phone
    endpoints: Mapping[str, str]
    bridges: HoldingBridges
    recordings: LiveRecordings
    #: Callbacks (the queue's callback key, abandoned callers); None: none offered.
    callbacks: CallbackService | None = None


@dataclass
class Ringing:
    offer: Offer
    deadline: float


class VoiceQueue:
    """One contact's wait in one queue (see the module docstring)."""

    def __init__(self, queueing: Queueing, port: VoicePort, contact_id: str) -> None:
        self.q = queueing
        self.port = port
        self.ari = port.ari
        self.contact_id = contact_id
        self.rings: dict[str, Ringing] = {}  # agent leg -> its offer
        self.bridge: str | None = None
        self.record = False  # the queue records its conversations
        # Closed while the caller books a callback: the engine's offers wait meanwhile.
        self.gate = OfferGate()
        self.waiting: CallerWait | None = None
        self.entered = 0.0

    async def run(self, request: QueueRequest) -> str:
        settings = self.q.settings.get(request.queue)
        if settings is None:  # the linter refuses such flows; a reload race lands here
            await self.port.emit("queue.unknown", {"queue": request.queue})
            return "closed"
        self.record = settings.recording == "on"
        if self.record:
            # Told before anything else happens: before an agent could answer.
            await self.port.play(
                [Prompt(key="recording_notice")], language=request.language, barge_in=False
            )
        ticket = await self.q.routing.enqueue(
            self.contact_id,
            "voice",
            request.queue,
            priority=request.priority,
            skills=dict(request.skills),
            timeout=request.max_wait,
        )
        if not ticket.joined:
            return str(ticket.join.outcome)
        return await self._serve(ticket, settings, request.language, time.monotonic())

    async def resume(self, ticket: Ticket, bridge: str, language: str, entered: float) -> str:
        """A wait a previous controller started (ari_app/recovery.py): the caller is
        already in `bridge` with its music and back in the routing engine (`ticket`);
        carry on as `run` does. `entered` is the original entry on the routing clock."""
        settings = self.q.settings[ticket.queue]
        self.record = settings.recording == "on"
        self.bridge = bridge
        return await self._serve(ticket, settings, language, entered)

    async def _serve(
        self, ticket: Ticket, settings: QueueSettings, language: str, entered: float
    ) -> str:
        self.entered = entered
        self.waiting = CallerWait(
            self.port,
            self.q.routing,
            self.q.callbacks,
            self.contact_id,
            settings,
            ticket.queue,
            self.gate,
        )
        forward = asyncio.create_task(self._forward(ticket))
        try:
            if self.bridge is None:
                self.bridge = await self.port._ari(
                    self.q.bridges.join(ticket.queue, settings.music_on_hold, self.port.channel_id)
                )
            return await self.waiting.run(self, language)
        except CallerGone:
            await self.q.routing.leave(self.contact_id, "left")
            if self.q.callbacks is not None:  # the queue's abandoned-caller policy
                await self.q.callbacks.abandoned(
                    self.contact_id,
                    number_of(self.port.caller_id),
                    ticket.queue,
                    time.monotonic() - entered,
                )
            raise
        except AriError as error:
            if not error.unreachable:
                raise
            # Asterisk went away under the caller: lost with it, not a flow error.
            self.port.gone = self.port.lost = True
            await self.q.routing.leave(self.contact_id, "left")
            raise CallerGone() from None
        finally:
            forward.cancel()
            for leg in list(self.rings):
                await self._drop(leg)
            await self._leave_hold()

    async def _forward(self, ticket: Ticket) -> None:
        async for item in ticket:
            await self.gate.pass_through(item)
            self.port.deliver({"type": TICKET_EVENT, "item": item})

    # The agents' side of the wait (ari_app/waiting.py's AgentSide)

    def ringing(self) -> bool:
        return bool(self.rings)

    def next_deadline(self) -> float:
        return min((r.deadline for r in self.rings.values()), default=float("inf"))

    async def ring_out(self, now: float) -> None:
        for leg, ringing in list(self.rings.items()):
            if ringing.deadline <= now:
                await self._drop(leg)
                await self.q.routing.no_answer(ringing.offer)

    async def handle(self, event: Event) -> str | None:
        kind = event["type"]
        if kind == TICKET_EVENT:
            item = event["item"]
            if isinstance(item, Offer):
                await self._ring(item)
            elif isinstance(item, Withdrawn):
                for leg, ringing in list(self.rings.items()):
                    if ringing.offer.agent == item.offer.agent:
                        await self._drop(leg)
            elif isinstance(item, Finished) and item.outcome != "answered":
                return str(item.outcome)
            return None
        leg = channel_of(event)
        if leg not in self.rings:
            return None
        if kind == "StasisStart":
            return await self._answered(leg)
        if kind == "ChannelDestroyed":  # it never answered; the cause says why
            ringing = self.rings.pop(leg)
            self.port.follow(leg, False)
            cause = int(event.get("cause") or 0)
            if cause in BUSY_CAUSES:
                await self.q.routing.rejected(ringing.offer)
            elif cause in NO_ANSWER_CAUSES:
                await self.q.routing.no_answer(ringing.offer)
            else:
                await self.q.routing.failed(ringing.offer, f"agent leg ended, cause {cause}")
        return None

    async def _ring(self, offer: Offer) -> None:
        endpoint = self.q.endpoints.get(offer.agent)
        leg = f"{self.port.channel_id}-agent-{uuid.uuid4().hex[:8]}"
        if endpoint is None:
            await self.q.routing.failed(offer, "agent has no endpoint")
            return
        self.port.follow(leg, True)
        self.rings[leg] = Ringing(offer, time.monotonic() + offer.ring_timeout)
        try:
            await originate(
                self.ari,
                endpoint=f"PJSIP/{endpoint}",
                leg=leg,
                args=f"agent,{self.contact_id}",
                originator=self.port.channel_id,
                ring_seconds=offer.ring_timeout,
                caller_id=self.port.caller_id,
            )
        except AriError as error:
            self.rings.pop(leg, None)
            self.port.follow(leg, False)
            await self.q.routing.failed(offer, str(error))
            return
        await self.q.routing.ringing(offer)

    async def _answered(self, leg: str) -> str | None:
        ringing = self.rings.pop(leg)
        offer = ringing.offer
        try:
            await self.q.routing.accepted(offer)
        except OfferWithdrawn:  # the caller left, or the engine moved on meanwhile
            await self._drop(leg)
            return None
        for other in list(self.rings):  # ring-all: the others stop ringing
            await self._drop(other)
        if self.waiting is not None:
            await self.waiting.stop_announcement()
        await self._leave_hold()
        bridge = f"talk-{leg}"
        waited = round(time.monotonic() - self.entered, 1)
        await self.port.emit(
            "queue.connected", {"agent": offer.agent, "queue": offer.queue, "waited": waited}
        )
        return await self._talk(offer.agent, offer.queue, leg, bridge, None, time.monotonic())

    async def resume_talk(
        self, agent: str, queue: str, leg: str, bridge: str, recording: str | None, since: float
    ) -> str:
        """A conversation a previous controller connected (ari_app/recovery.py), with
        its recording if one runs: until either side hangs up, then as any other."""
        self.port.follow(leg, True)
        if recording is not None:
            self.q.recordings.names[self.contact_id] = recording
        return await self._talk(agent, queue, leg, bridge, recording, since, resumed=True)

    async def ended_unseen(
        self, agent: str, queue: str, bridge: str, recording: str | None
    ) -> None:
        """A conversation whose agent hung up while no controller ran (recovery): store
        its recording, remove its bridge and log its end as `_talk` would."""
        if recording is not None:
            await self._recorded(recording, agent, queue)
        await clean_up(self.ari, None, bridge)
        await self.port.emit(
            "queue.call_ended", {"agent": agent, "ended_by": "agent", "talk_seconds": None}
        )

    async def _talk(
        self,
        agent: str,
        queue: str,
        leg: str,
        bridge: str,
        recording: str | None,
        started: float,
        *,
        resumed: bool = False,
    ) -> str:
        """Talk in `bridge`: made here, unless `resumed` (it is already up)."""
        ended_by = "caller"
        try:
            if not resumed:
                try:
                    await self.port._ari(connect(self.ari, bridge, self.port.channel_id, leg))
                except ChannelsGone as gone:
                    if self.port.channel_id in gone.channels:
                        self.port.gone = True
                        raise CallerGone() from None
                    # The agent hung up as soon as they answered: a conversation of
                    # nothing, over (the caller's flow goes on), not a flow error.
                    ended_by = "agent"
                    return "answered"
                if self.record:
                    recording = await self._record(bridge, agent)
            await self.port._talking(leg)
            ended_by = "agent"
        finally:
            if recording is not None:
                await self._recorded(recording, agent, queue)
            await clean_up(self.ari, leg, bridge)
            self.port.follow(leg, False)
            await self.q.routing.finished(agent, self.contact_id)
            await self.port.emit(
                "queue.call_ended",
                {
                    "agent": agent,
                    "ended_by": ended_by,
                    "talk_seconds": round(time.monotonic() - started, 1),
                },
            )
        return "answered"

    async def _record(self, bridge: str, agent: str) -> str | None:
        """Record the conversation from the moment the agent answered."""
        name = f"call-{self.contact_id}-{uuid.uuid4().hex[:6]}"
        try:
            await self.ari.request(
                "POST",
                f"bridges/{bridge}/record",
                params={"name": name, "format": "wav", "ifExists": "fail"},
            )
        except AriError as error:
            await self.port.emit("recording.failed", {"name": name, "error": str(error)})
            return None
        self.q.recordings.names[self.contact_id] = name
        await self.port.emit("recording.started", {"name": name, "agent": agent})
        return name

    async def _recorded(self, name: str, agent: str, queue: str) -> None:
        """Stop the recording (so the file is complete) and store it with the contact."""
        self.q.recordings.names.pop(self.contact_id, None)
        with contextlib.suppress(AriError):
            await self.ari.request("POST", f"recordings/live/{name}/stop")
        recordings = self.port.recordings
        duration = await recorded_seconds(recordings.host_path(name))
        await self.port.emit(
            "recording.saved",
            recordings.event(
                name,
                duration,
                "recorded" if duration >= 1 else "empty",
                kind="conversation",
                agent=agent,
                queue=queue,
                caller=self.port.caller_id,
            ),
        )

    async def _drop(self, leg: str) -> None:
        """Stop ringing (or hang up) an agent leg we no longer want."""
        self.rings.pop(leg, None)
        await clean_up(self.ari, leg, None)
        self.port.follow(leg, False)

    async def _leave_hold(self) -> None:
        if self.bridge is not None:
            await self.q.bridges.leave(self.bridge, self.port.channel_id)
            self.bridge = None
