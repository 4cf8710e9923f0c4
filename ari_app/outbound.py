"""An agent's outbound call over ARI: click-to-call from the desk or a CRM, and a booked
callback called by hand (`hotline/calls/outbound.py` decides whether it may be placed).

1. The agent is checked first (`RoutingService.unavailable`): offline, paused or on a
   call is refused with the reason before anything is written or dialed.
2. The contact is opened (channel and direction `outbound`, the customer linked when
   known; a callback by hand keeps the callback's own contact) and handed to the routing
   engine for that agent only (`enqueue(..., agent=...)`): the agent is busy on voice
   for routing from now on, and no queued call is offered to them.
3. The agent's phone rings first (`ringer.py`, as for a queued call), showing whom it
   calls. Not answered, declined or failed: nobody is dialed, `outbound.failed`.
4. The agent answers and hears ringback while the customer's number is dialed through
   the dial template, showing the queue's caller id; `outbound.failed` if the customer
   does not answer, is busy, or the agent hangs up first.
5. The customer answers (`outbound.answered`): they talk in a mixing bridge, the same
   conversation a queued caller has with their agent (`conversation.py`): recorded by
   the queue's policy, under call control (hold; transfer to a number, a colleague or a
   queue, where the customer waits as a transferred caller), feature codes from the
   phone; the agent goes to the queue's wrap-up afterwards.

The contact ends completed (they talked, with the agent or a colleague the call was
transferred to), transferred (passed on to an outside number) or failed (never
connected). Nothing is left behind: every leg and bridge goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from ari_app.client import AriClient, AriError, AriEvent
from ari_app.events import GONE_EVENTS, channel_of
from ari_app.legs import RINGBACK, clean_up, originate, unanswered
from ari_app.queueing import Queueing, VoiceQueue
from ari_app.ringer import AgentRinger
from ari_app.voice_port import Emit, VoicePort
from hotline.acd.decisions import Offer
from hotline.acd.model import Channel
from hotline.acd.router import RoutingError
from hotline.acd.service import Finished, Ticket, Withdrawn
from hotline.calls.errors import Conflict, NotFound
from hotline.calls.outbound import OnEnd, OutboundPlan, OutboundResult
from hotline.flows.port import CallerGone
from hotline.store import Store
from hotline.store.active import active_contacts
from voice.caller_id import caller_id

log = logging.getLogger(__name__)

#: The inbox event that carries an item of the call's routing ticket.
TICKET = "HotlineOutboundTicket"
#: How long the customer's phone rings, unless the call says otherwise.
RING_SECONDS = 30.0


async def close_lost(store: Store) -> int:
    """At start: outbound calls a previous controller left open are lost (Asterisk's
    recovery hangs their legs up as orphans: ari_app/recovery.py); each is logged
    `outbound.failed` (reason controller_lost) and ends "lost". How many."""
    lost = await active_contacts(store, "outbound")
    for contact in lost:
        started = next(
            (e for e in await store.events(contact.id) if e.type == "outbound.started"), None
        )
        data = started.data if started is not None else {}
        await store.end_contact(
            contact.id,
            "lost",
            "outbound.failed",
            {
                "agent": str(data.get("agent", "")),
                "to": str(data.get("to", f"number:{contact.destination}")),
                "reason": "controller_lost",
            },
            queue=started.queue if started is not None else None,
            agent=started.agent if started is not None else None,
        )
    return len(lost)


class EventLog(Protocol):
    """Where the call's steps go: the store."""

    async def append(
        self,
        contact_id: str | None,
        type: str,
        data: dict[str, Any] | None = None,
        queue: str | None = None,
        agent: str | None = None,
    ) -> int: ...

    async def open_contact(
        self,
        channel: str,
        direction: str,
        source: str,
        destination: str,
        customer_id: int | None = None,
        asterisk_channel: str | None = None,
        *,
        asterisk_node: str | None = None,
    ) -> str: ...

    async def close_contact(self, contact_id: str, status: str) -> None: ...

    async def end_contact(
        self,
        contact_id: str,
        status: str,
        type: str,
        data: dict[str, Any] | None = None,
        queue: str | None = None,
        agent: str | None = None,
    ) -> int: ...


class Ports(Protocol):
    """The Stasis app's side: other channels' events routed by channel id, and a voice
    port for a channel of ours (its events and its legs' go to the port meanwhile)."""

    @property
    def followed(self) -> MutableMapping[str, Callable[[AriEvent], None]]: ...

    def port_for(self, channel_id: str, emit: Emit) -> AbstractContextManager[VoicePort]: ...


@dataclass
class _Call:
    """One outbound call in progress."""

    contact_id: str
    plan: OutboundPlan
    to: str  # as asked ("number:...", "customer:42")
    shown: str  # what the agent's phone shows
    ring_seconds: float
    ticket: Ticket
    on_end: OnEnd | None
    inbox: asyncio.Queue[AriEvent]


class AriOutbound:
    """Outbound calls of this controller (see the module docstring)."""

    def __init__(
        self,
        ari: AriClient,
        queueing: Queueing,
        ports: Ports,
        store: EventLog,
        *,
        ring_seconds: float = RING_SECONDS,
        language: str = "en",
        node: str | None = None,
        move_to_node: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        """`node`: this worker's name, kept on each call's contact (contacts.asterisk_node:
        where a desk on a web process sends the call's controls); `move_to_node` writes
        it on a contact carried on here (a callback by hand first on another worker)."""
        self.ari = ari
        self.queueing = queueing
        self.routing = queueing.routing
        self.ports = ports
        self.store = store
        self.ring_seconds = ring_seconds
        #: The language of what a customer transferred into a queue hears.
        self.language = language
        self.node = node
        self.move_to_node = move_to_node
        self.calls: dict[str, _Call] = {}  # contact id -> its call
        self._tasks: set[asyncio.Task[None]] = set()

    def check(self, agent: str) -> None:
        """Conflict (409) with the reason if `agent` cannot take a call now; NotFound if
        their phone is not known here."""
        if agent not in self.queueing.endpoints:
            raise NotFound(f"agent {agent} has no phone on this Hotline")
        why = self.routing.unavailable(agent, Channel.VOICE)
        if why is not None:
            raise Conflict(f"{agent} cannot place a call now: {why}{self._reason(agent)}")

    def _reason(self, agent: str) -> str:
        """The pause reason, when the agent's voice is paused ("unreachable": no phone)."""
        with contextlib.suppress(RoutingError):
            status = self.routing.agent_status(agent).get(Channel.VOICE)
            if status is not None and status.reason:
                return f" ({status.reason})"
        return ""

    async def place(
        self,
        plan: OutboundPlan,
        *,
        to: str,
        by: str,
        customer_name: str | None = None,
        customer_id: int | None = None,
        contact_id: str | None = None,
        ring_seconds: float | None = None,
        on_end: OnEnd | None = None,
    ) -> str:
        """Place the call: its contact id, once the agent's phone is being rung. Refused
        (Conflict, NotFound) before anything is written when the agent cannot take it.

        `customer_name`: shown on the agent's phone with the number; `contact_id`: an
        open contact to carry on (a callback by hand) instead of a new `outbound` one;
        `on_end`: told how it ended (then it closes the contact; by default it is
        closed here)."""
        self.check(plan.agent)
        opened = contact_id is None
        if contact_id is None:
            contact_id = await self.store.open_contact(
                "outbound",
                "outbound",
                plan.caller_id or plan.queue,
                plan.number,
                customer_id=customer_id,
                asterisk_node=self.node,
            )
        try:
            ticket = await self.routing.enqueue(
                contact_id, Channel.VOICE, plan.queue, timeout=math.inf, agent=plan.agent
            )
        except RoutingError as error:  # taken meanwhile (another call, a pause)
            await self._refused(contact_id, plan, to, str(error), opened)
            raise Conflict(f"{plan.agent} cannot place a call now: {error}") from None
        if not ticket.joined:
            why = f"queue {plan.queue} refused the call ({ticket.join.outcome})"
            await self._refused(contact_id, plan, to, why, opened)
            raise Conflict(why)
        if not opened and self.node is not None and self.move_to_node is not None:
            # Its call is this worker's now: its controls from a web process come here.
            await self.move_to_node(contact_id, self.node)
        call = _Call(
            contact_id,
            plan,
            to,
            caller_id(customer_name, plan.number),
            ring_seconds or self.ring_seconds,
            ticket,
            on_end,
            asyncio.Queue(),
        )
        self.calls[contact_id] = call
        await self._emit(
            call,
            "outbound.started",
            {"agent": plan.agent, "to": to, "queue": plan.queue, "by": by},
        )
        task = asyncio.create_task(self._run(call), name=f"outbound-{contact_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("contact=%s outbound call by %s for %s to %s", contact_id, by, plan.agent, to)
        return contact_id

    async def _refused(
        self, contact_id: str, plan: OutboundPlan, to: str, why: str, opened: bool
    ) -> None:
        data = {"agent": plan.agent, "to": to, "reason": why}
        if opened:
            await self.store.end_contact(
                contact_id, "failed", "outbound.failed", data, queue=plan.queue, agent=plan.agent
            )
        else:
            await self.store.append(
                contact_id, "outbound.failed", data, queue=plan.queue, agent=plan.agent
            )

    async def drain(self, timeout: float = 10) -> None:
        """Wait for calls in progress to finish their bookkeeping (on shutdown)."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)

    # plumbing

    async def _emit(self, call: _Call, kind: str, data: dict[str, Any]) -> None:
        await self.store.append(
            call.contact_id, kind, data, queue=call.plan.queue, agent=call.plan.agent
        )

    def _follow(self, call: _Call) -> Callable[[str, bool], None]:
        def follow(leg: str, on: bool) -> None:
            if on:
                self.ports.followed[leg] = call.inbox.put_nowait
            elif self.ports.followed.get(leg) == call.inbox.put_nowait:
                del self.ports.followed[leg]

        return follow

    def _leg(self, call: _Call, kind: str) -> str:
        return f"out-{call.contact_id[:8]}-{kind}-{uuid.uuid4().hex[:8]}"

    async def _next(self, call: _Call, timeout: float | None) -> AriEvent | None:
        try:
            return await asyncio.wait_for(call.inbox.get(), timeout)
        except TimeoutError:
            return None

    # the call

    async def _run(self, call: _Call) -> None:
        result = OutboundResult("failed", call.plan.agent)
        try:
            result = await self._call(call)
        except Exception:
            log.exception("contact=%s: outbound call failed", call.contact_id)
            with contextlib.suppress(Exception):
                await self.routing.leave(call.contact_id, "left")
        finally:
            self.calls.pop(call.contact_id, None)
            with contextlib.suppress(Exception):
                await self._ended(call, result)

    async def _ended(self, call: _Call, result: OutboundResult) -> None:
        if call.on_end is not None:
            await call.on_end(result)
            return
        status = {"answered": "completed", "transferred": "transferred"}.get(
            result.outcome, "failed"
        )
        await self.store.close_contact(call.contact_id, status)

    async def _call(self, call: _Call) -> OutboundResult:
        follow = self._follow(call)
        ringer = AgentRinger(
            self.ari,
            self.routing,
            self.queueing.endpoints,
            follow,
            leg_name=lambda: self._leg(call, "agent"),
            args=f"outbound,{call.contact_id}",
            caller_id=call.shown,
            originator=None,
        )

        async def forward() -> None:
            async for item in call.ticket:
                call.inbox.put_nowait({"type": TICKET, "item": item})

        forwarding = asyncio.create_task(forward())
        try:
            answered = await self._agent_answers(call, ringer)
        finally:
            forwarding.cancel()
            await ringer.drop_all()
        if isinstance(answered, OutboundResult):
            return answered
        _offer, leg = answered
        return await self._dial_customer(call, leg, follow)

    async def _agent_answers(
        self, call: _Call, ringer: AgentRinger
    ) -> tuple[Offer, str] | OutboundResult:
        """Ring the agent as the engine offers; their offer and leg once they answer,
        or how it failed (nobody is dialed then)."""
        why = "agent_no_answer"
        while True:
            wake = ringer.next_deadline()
            now = time.monotonic()
            event = await self._next(call, None if wake == math.inf else max(0.0, wake - now))
            if event is None:
                why = "agent_no_answer"
                await ringer.ring_out(time.monotonic())
                continue
            if event["type"] == TICKET:
                item = event["item"]
                if isinstance(item, Offer):
                    before = ringer.ringing()
                    await ringer.ring(item)
                    if not before and not ringer.ringing():
                        why = "agent_failed"  # the phone could not be rung at all
                elif isinstance(item, Withdrawn):
                    await ringer.withdraw(item.offer.agent)
                elif isinstance(item, Finished) and item.outcome != "answered":
                    return await self._failed(call, why)
                continue
            if event["type"] == "ChannelDestroyed" and channel_of(event) in ringer.rings:
                cause = unanswered(int(event.get("cause") or 0))
                why = {"busy": "agent_busy", "no_answer": "agent_no_answer"}.get(
                    cause, "agent_failed"
                )
            answered = await ringer.on_leg_event(event)
            if answered is not None:
                return answered.offer, answered.leg

    async def _failed(self, call: _Call, why: str, **detail: Any) -> OutboundResult:
        await self._emit(
            call,
            "outbound.failed",
            {"agent": call.plan.agent, "to": call.to, "reason": why, **detail},
        )
        log.info("contact=%s outbound call failed: %s", call.contact_id, why)
        return OutboundResult(why, call.plan.agent)

    async def _dial_customer(
        self, call: _Call, leg: str, follow: Callable[[str, bool], None]
    ) -> OutboundResult:
        """The agent answered on `leg`: dial the customer while the agent hears ringback;
        talk once they answer."""
        customer = self._leg(call, "customer")
        ringback = f"ringback-{leg}"
        talking = False
        try:
            with contextlib.suppress(AriError):
                await self.ari.play(leg, [RINGBACK], lang="en", playback_id=ringback)
            follow(customer, True)
            try:
                await originate(
                    self.ari,
                    endpoint=call.plan.dial,
                    leg=customer,
                    args=f"outbound,{call.contact_id}",
                    originator=leg,
                    ring_seconds=call.ring_seconds,
                    caller_id=call.plan.caller_id,
                )
            except AriError as error:
                return await self._failed(call, "failed", error=str(error))
            outcome, cause = await self._customer_answers(call, customer, leg)
            with contextlib.suppress(AriError):
                await self.ari.stop_playback(ringback)
            if outcome != "answered":
                detail = {} if cause is None else {"cause": cause}
                return await self._failed(call, outcome, **detail)
            await self._emit(call, "outbound.answered", {"agent": call.plan.agent, "to": call.to})
            talking = True
            return await self._talk(call, customer, leg, follow)
        finally:
            if not talking:  # the conversation cleans up (and finishes) its own
                await clean_up(self.ari, customer, None)
                await clean_up(self.ari, leg, None)
                # The agent answered: wrap-up follows, as after any call of theirs.
                await self.routing.finished(call.plan.agent, call.contact_id)
            follow(customer, False)
            follow(leg, False)

    async def _customer_answers(
        self, call: _Call, customer: str, leg: str
    ) -> tuple[str, int | None]:
        """(answered | busy | no_answer | failed | agent_hung_up, hang-up cause)."""
        deadline = time.monotonic() + call.ring_seconds
        while (left := deadline - time.monotonic()) > 0:
            event = await self._next(call, left)
            if event is None:
                break
            which = channel_of(event)
            if which == leg and event["type"] in GONE_EVENTS:
                return "agent_hung_up", None
            if which != customer:
                continue
            if event["type"] == "StasisStart":
                return "answered", None
            if event["type"] == "ChannelDestroyed":
                cause = int(event.get("cause") or 0)
                return unanswered(cause), cause
        return "no_answer", None

    async def _talk(
        self, call: _Call, customer: str, leg: str, follow: Callable[[str, bool], None]
    ) -> OutboundResult:
        """Agent and customer talk: the conversation a queued caller has with their
        agent, on a voice port for the customer's channel."""
        plan = call.plan

        async def emit(kind: str, data: dict[str, Any]) -> None:
            await self.store.append(call.contact_id, kind, data)

        settings = self.queueing.settings.get(plan.queue)
        record = settings is not None and settings.recording == "on"
        started = time.monotonic()
        with self.ports.port_for(customer, emit) as port:
            port.caller_id = plan.number  # what a transfer target's phone shows
            port.follow(leg, True)
            # Events that came in before the port took over are the port's now.
            while not call.inbox.empty():
                event = call.inbox.get_nowait()
                if channel_of(event) in (customer, leg):
                    port.deliver(event)
            # A transfer to a colleague or a queue has the customer wait there, as a
            # queued caller transferred by their agent would.
            waits = VoiceQueue(self.queueing, port, call.contact_id)
            waits.language = self.language
            conversation = self.queueing.conversation(port, call.contact_id, waits.transferred_in)
            conversation.language = self.language
            ended_by = "agent"
            try:
                await conversation.talk(plan.agent, plan.queue, leg, record=record)
            except CallerGone:
                ended_by = "customer"
            finally:
                port.follow(leg, False)
                if not port.gone:
                    await port.hangup()
                    ended_by = "transfer" if port.transferred else ended_by
        talk = round(time.monotonic() - started, 1)
        outcome = "transferred" if port.transferred else "answered"
        return OutboundResult(outcome, plan.agent, talk, ended_by)
