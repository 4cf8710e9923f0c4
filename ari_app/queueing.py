"""A caller's time in a queue over ARI, and the agent who answers.

The routing engine (hotline/acd/service.py) decides who is offered what; this is how it
sounds and rings on Asterisk:

- the caller waits in the queue's holding bridge with its music on hold
  (`holding.py`), hears their position (and wait) every so often, and may press the
  queue's leave or callback key (`waiting.py`);
- each offer rings the agent's PJSIP endpoint (`ringer.py`); busy, declined,
  unanswered or failed legs are reported back and the engine offers the caller to the
  next agent — the caller only notices by waiting;
- when the agent answers, caller and agent talk in a mixing bridge
  (`conversation.py`, recorded by `recording.py` when the queue says so).

Every event of the call — the caller's keys and hang-up, the agent legs' events (the
Stasis app routes them here), and the engine's offers and withdrawals — goes through
the voice port's one ordered inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ari_app.call_control import AriCallControl
from ari_app.client import AriError, AriEvent
from ari_app.conversation import REFER_TO_US, AgentConversation, Requeue
from ari_app.holding import HoldingBridges
from ari_app.recording import ConversationRecorder, LiveRecordings
from ari_app.ringer import AgentRinger
from ari_app.voice_port import VoicePort
from ari_app.waiting import CallerWait, OfferGate
from hotline.acd.decisions import Offer
from hotline.acd.service import Finished, RoutingService, Ticket, Withdrawn
from hotline.acd.settings import Announcements, QueueSettings
from hotline.callbacks.service import CallbackService
from hotline.cluster.offers import OfferFence
from hotline.contacts import ContactRun
from hotline.flows.port import CallerGone, Prompt
from hotline.flows.services import QueueRequest
from voice.caller_id import number_of

log = logging.getLogger(__name__)

#: The inbox event that carries an item of the contact's routing ticket.
TICKET_EVENT = "HotlineTicket"


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
    #: Hold and resume of live conversations (desk, REST API); None: none.
    calls: AriCallControl | None = None
    #: With the routing leader elsewhere (a call worker, hotline/cluster): the newest
    #: epoch seen; offers of an older one ring nobody.
    fence: OfferFence | None = None
    #: A waiting caller whose call died with Asterisk (its ARI gone: a crash): rebooked
    #: by the node-lost policy, a callback at its place where the queue allows
    #: (hotline/cluster/node_loss.py); None: the caller leaves its queue.
    lost_with_node: Callable[[str], Awaitable[object]] | None = None
    #: What the routing leader did with a waiting caller while this worker was cut off
    #: from the bus past routing.node_lost_after (RemoteRouting.rebooked): the node-lost
    #: policy's data, or None. The caller, still here, is told and the call ends.
    rebooked: Callable[[str], dict[str, Any] | None] | None = None

    def conversation(
        self, port: VoicePort, contact_id: str, requeue: Requeue | None = None
    ) -> AgentConversation:
        """The conversation of a call with the agent who answered it (`requeue`: how a
        transfer to an agent or a queue puts the caller back in one; None: it cannot)."""
        recorder = ConversationRecorder(port, self.recordings, contact_id)
        return AgentConversation(port, self.routing, recorder, contact_id, self.calls, requeue)


class VoiceQueue:
    """One contact's wait in one queue (see the module docstring)."""

    def __init__(
        self,
        queueing: Queueing,
        port: VoicePort,
        contact_id: str,
        contact_run: ContactRun | None = None,
    ) -> None:
        self.q = queueing
        self.port = port
        self.contact_id = contact_id
        #: The contact's run, told of the answer and the outcome (None: no contact
        #: bookkeeping waits for them).
        self.contact_run = contact_run
        self.bridge: str | None = None
        self.record = False  # the queue records its conversations
        # Closed while the caller books a callback: the engine's offers wait meanwhile.
        self.gate = OfferGate()
        self.waiting: CallerWait | None = None
        self.entered = 0.0
        self._cleaning: set[asyncio.Task[None]] = set()  # holding bridges going
        #: The caller's place (routing clock) and language, for a transfer back in.
        self.place: float | None = None
        self.language = ""
        self.answered = False  # an agent answered: a hang-up is no abandon
        self.ringer = AgentRinger(
            port.ari,
            queueing.routing,
            queueing.endpoints,
            port.follow,
            leg_name=lambda: f"{port.channel_id}-agent-{uuid.uuid4().hex[:8]}",
            args=f"agent,{contact_id}",
            caller_id=port.caller_id,
            originator=port.channel_id,
            # Under call control the agent's REFERs come to Hotline: set as the leg is
            # made, not by a request of its own once they answer.
            variables=REFER_TO_US if queueing.calls is not None else None,
            fence=queueing.fence,
        )

    async def run(self, request: QueueRequest) -> str:
        """Queue the caller as the flow's queue node asks: the node's outcome."""
        return self._outcome(await self._run(request))

    async def resume(self, ticket: Ticket, bridge: str, language: str, entered: float) -> str:
        """A wait a previous controller started (ari_app/recovery.py): the caller is
        already in `bridge` with its music and back in the routing engine (`ticket`);
        carry on as `run` does. `entered` is the original entry on the routing clock."""
        settings = self.q.settings[ticket.queue]
        self.record = settings.recording == "on"
        self.bridge = bridge
        return self._outcome(await self._serve(ticket, settings, language, entered))

    def _outcome(self, outcome: str) -> str:
        if self.contact_run is not None:
            self.contact_run.queue_finished(outcome)
        return outcome

    async def _run(self, request: QueueRequest) -> str:
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

    async def transferred_in(
        self, queue: str, *, agent: str | None = None, keep_place: bool = False
    ) -> str:
        """The caller's agent transferred them (conversation.py): the same contact waits
        again, in `queue` under its own rules, or (`agent`) for that agent only, with the
        queue's music and no announcements; `keep_place`: at the place it had here; at the
        queue's `transfer_priority`. The wait's outcome; RoutingError if the engine
        refuses the contact."""
        settings = self.q.settings.get(queue)
        if settings is None:  # removed by a reload since the transfer was checked
            await self.port.emit("queue.unknown", {"queue": queue})
            return "closed"
        if agent is not None:
            quiet = {"announcements": Announcements(), "callback": None, "leave_key": None}
            settings = settings.model_copy(update=quiet)
        again = VoiceQueue(self.q, self.port, self.contact_id)
        again.answered = True  # served already: no abandoned-caller callback
        again.record = settings.recording == "on"
        if again.record:
            await self.port.play(
                [Prompt(key="recording_notice")], language=self.language, barge_in=False
            )
        ticket = await self.q.routing.enqueue(
            self.contact_id,
            "voice",
            queue,
            priority=settings.transfer_priority,
            agent=agent,
            entered_at=self.place if keep_place else None,
        )
        if not ticket.joined:
            return str(ticket.join.outcome)
        return await again._serve(ticket, settings, self.language, time.monotonic())

    async def _serve(
        self, ticket: Ticket, settings: QueueSettings, language: str, entered: float
    ) -> str:
        self.entered = entered
        self.place = ticket.contact.entered_at
        self.language = language
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
                music, port = settings.music_on_hold, self.port
                await port.settle()  # out of a conversation's bridge first (a 2nd queue)
                self.bridge = await port.guarded(
                    self.q.bridges.join(ticket.queue, music, port.channel_id, port.music_class)
                )
                port.music_class = music
            return await self.waiting.run(self, language)
        except CallerGone:
            if self.port.lost and await self._lost_with_node():
                raise  # not an abandon: the caller did not hang up
            # The caller's bridge goes before routing is told: telling it may wait out
            # a store outage, and an empty bridge has no reason to stay meanwhile.
            await self._leave_hold()
            await self.q.routing.leave(self.contact_id, "left")
            # The queue's abandoned-caller policy: not for a caller an agent answered
            # (who hung up talking, or waiting again after a transfer).
            if self.q.callbacks is not None and not self.answered:
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
            if not await self._lost_with_node():
                await self.q.routing.leave(self.contact_id, "left")
            raise CallerGone() from None
        finally:
            forward.cancel()
            await self.ringer.drop_all()
            await self._leave_hold()

    async def _told_rebooked(self, said: dict[str, Any]) -> str:
        """The leader took this caller for lost with its node while the worker was cut
        off from the bus, and booked a callback at its place (or could not): the
        caller, still on the line, is told so before the call ends."""
        if said.get("action") == "callback":
            await self.port.emit(
                "queue.callback",
                {"queue": said.get("queue"), "callback": said.get("callback"), "by": "node_lost"},
            )
            key, outcome = "callback_booked", "callback"
        else:
            key, outcome = "agents_unavailable", "closed"
        with contextlib.suppress(CallerGone):  # told: hanging up now is expected
            await self.port.play([Prompt(key=key)], language=self.language, barge_in=False)
        return outcome

    async def _lost_with_node(self) -> bool:
        """The node-lost policy for this caller (Queueing.lost_with_node); False if
        there is none or it failed (then the caller just leaves its queue)."""
        if self.q.lost_with_node is None:
            return False
        try:
            await self.q.lost_with_node(self.contact_id)
        except Exception:
            log.exception("contact %s lost with Asterisk: not rebooked", self.contact_id)
            return False
        return True

    async def _forward(self, ticket: Ticket) -> None:
        async for item in ticket:
            await self.gate.pass_through(item)
            self.port.deliver({"type": TICKET_EVENT, "item": item})

    # The agents' side of the wait (ari_app/waiting.py's AgentSide)

    def ringing(self) -> bool:
        return self.ringer.ringing()

    def next_deadline(self) -> float:
        return self.ringer.next_deadline()

    async def ring_out(self, now: float) -> None:
        await self.ringer.ring_out(now)

    async def handle(self, event: AriEvent) -> str | None:
        if event["type"] == TICKET_EVENT:
            item = event["item"]
            if isinstance(item, Offer):
                await self.ringer.ring(item)
            elif isinstance(item, Withdrawn):
                await self.ringer.withdraw(item.offer.agent)
            elif isinstance(item, Finished) and item.outcome != "answered":
                said = self.q.rebooked(self.contact_id) if self.q.rebooked else None
                if item.outcome == "left" and said is not None:
                    return await self._told_rebooked(said)
                return str(item.outcome)
            return None
        answered = await self.ringer.on_leg_event(event)
        if answered is None:
            return None
        offer = answered.offer
        if self.waiting is not None:
            await self.waiting.stop_announcement()
        # No leave of the holding bridge on the way: joining the conversation's bridge
        # takes the caller out of it, and the empty bridge goes once they talk.
        waited = round(time.monotonic() - self.entered, 1)
        await self.port.emit(
            "queue.connected", {"agent": offer.agent, "queue": offer.queue, "waited": waited}
        )
        self.answered = True
        if self.contact_run is not None:  # served, however the conversation ends
            self.contact_run.agent_answered = True
        conversation = self.q.conversation(self.port, self.contact_id, self.transferred_in)
        conversation.connected = self._out_of_hold
        conversation.language = self.language
        return await conversation.talk(
            offer.agent,
            offer.queue,
            answered.leg,
            record=self.record,
            referring=self.ringer.variables is not None,
        )

    async def _leave_hold(self) -> None:
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            await self.q.bridges.leave(bridge, self.port.channel_id, gone=self.port.gone)

    def _out_of_hold(self) -> None:
        """The caller talks in the conversation's bridge: their holding bridge goes, in
        the background (nothing waits for it)."""
        bridge, self.bridge = self.bridge, None
        if bridge is not None:
            task = asyncio.create_task(self.q.bridges.moved(bridge, self.port.channel_id))
            self._cleaning.add(task)
            task.add_done_callback(self._cleaning.discard)
