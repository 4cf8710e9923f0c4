"""The calls that call back over ARI (the callback key in a queue is the waiting
caller's, ari_app/waiting.py).

`CallbackCalls.attempt`, the callback service's dialer: for each offer
the engine makes (one reserved agent, one attempt: no burst), by default

1. the agent's phone rings (`ringer.py`, as for a queued call); unanswered, busy or
   failed legs go back to the engine, which offers the callback to the next agent;
2. the agent answers and hears a short whisper (queue, number being called);
3. the customer's number is dialed (`callbacks.dial_template`) while the agent hears
   ringing; no answer, busy or a failed call ends the attempt;
4. customer and agent talk in a mixing bridge until one hangs up; a conversation
   shorter than the queue's `min_talk_seconds` (a voicemail greeting the agent hung
   up on, a customer who hung up at once) counts as a failed attempt.

With `order: customer_first` the customer is dialed first, hears that the Hotline is
calling back and waits with music while the reserved agent's phone rings.

Once the agent has taken it, a call cut because Asterisk went away (its ARI WebSocket
closed: the legs end with `lost`) did not end: the attempt is interrupted, not
completed nor failed. The node-lost policy judges it (`CallbackCalls.lost_with_node`:
the agent to wrap-up, one `routing.node_lost` record "redial", the callback dialed
again with its attempt counted), as the routing leader does when the whole node is lost
first; this worker then tries it again in its turn, or stops serving it when another
worker dials it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from ari_app.client import AriClient, AriError, AriEvent, AriNotFound
from ari_app.events import GONE_EVENTS, channel_of
from ari_app.legs import RINGBACK, clean_up, connect, originate, unanswered
from ari_app.ringer import AgentRinger
from hotline.acd.decisions import Offer
from hotline.acd.service import Finished, OfferWithdrawn, RoutingService, Ticket, Withdrawn
from hotline.callbacks.service import AttemptResult
from hotline.callbacks.settings import CallbackConfig, QueueCallback
from hotline.flows.port import Prompt
from hotline.store.callbacks import Callback
from voice.prompts import PromptLibrary

log = logging.getLogger(__name__)

#: The inbox event that carries an item of the callback's routing ticket.
TICKET = "HotlineCallbackTicket"
#: A whisper that never reports its end is given up on after this long.
WHISPER_LIMIT = 30.0


class AttemptLog(Protocol):
    """Where an attempt's steps are logged: the store's event log."""

    async def append(
        self,
        contact_id: str | None,
        type: str,
        data: dict[str, Any] | None = None,
        queue: str | None = None,
        agent: str | None = None,
    ) -> int: ...


@dataclass
class CallbackCalls:
    """The callback service's dialer over ARI (see the module docstring)."""

    ari: AriClient
    routing: RoutingService
    store: AttemptLog
    prompts: PromptLibrary
    config: CallbackConfig
    #: agent id -> PJSIP endpoint of their phone (the one to ring now)
    endpoints: Mapping[str, str]
    #: The Stasis app's routing of other channels' events (leg id -> deliver).
    followed: MutableMapping[str, Callable[[AriEvent], None]]
    language: str = "en"
    #: A conversation cut by its Asterisk going away (contact, agent): the node-lost
    #: policy, said instead of `finished`; True if another worker dials it again (this
    #: one stops serving it). None: only `finished` (the attempt is tried again here).
    lost_with_node: Callable[[str, str], Awaitable[bool]] | None = None

    async def attempt(
        self,
        callback: Callback,
        ticket: Ticket,
        settings: QueueCallback,
        dialing: Callable[[str], Awaitable[int]],
    ) -> AttemptResult:
        return await _Attempt(self, callback, ticket, settings, dialing).run()


class _Gone(Exception):
    """A leg we needed hung up."""


class _Attempt:
    """One callback's turn at the head of its queue."""

    def __init__(
        self,
        calls: CallbackCalls,
        callback: Callback,
        ticket: Ticket,
        settings: QueueCallback,
        dialing: Callable[[str], Awaitable[int]],
    ) -> None:
        self.c = calls
        self.cb = callback
        self.ticket = ticket
        self.settings = settings
        self.dialing = dialing
        self.inbox: asyncio.Queue[AriEvent] = asyncio.Queue()
        self.legs: set[str] = set()
        self.bridge: str | None = None
        self.attempt = 0
        #: Why Asterisk went away under this attempt's legs (None: it did not).
        self.cut: str | None = None
        self.ringer = AgentRinger(
            calls.ari,
            calls.routing,
            calls.endpoints,
            self._follow,
            leg_name=lambda: self._leg("agent"),
            args=self._args,
            caller_id=callback.number,
            originator=None,
        )

    # plumbing

    @property
    def _args(self) -> str:
        return f"callback,{self.cb.contact_id}"

    def _follow(self, leg: str, on: bool) -> None:
        """Have the leg's events come to this attempt's inbox (or no longer)."""
        if on:
            self.legs.add(leg)
            self.c.followed[leg] = self.inbox.put_nowait
            return
        self.legs.discard(leg)
        if self.c.followed.get(leg) == self.inbox.put_nowait:
            del self.c.followed[leg]

    async def _drop(self, leg: str) -> None:
        await clean_up(self.c.ari, leg, None)
        self._follow(leg, False)

    async def _next(self, timeout: float | None) -> AriEvent | None:
        try:
            event = await asyncio.wait_for(self.inbox.get(), timeout)
        except TimeoutError:
            return None
        if event.get("lost") and event["type"] in GONE_EVENTS:
            self.cut = str(event["lost"])  # said by ari_app/app.py's on_disconnect
        return event

    async def _forward(self) -> None:
        async for item in self.ticket:
            self.inbox.put_nowait({"type": TICKET, "item": item})

    async def _emit(self, event: str, agent: str | None = None, **data: object) -> None:
        extra = {} if agent is None else {"agent": agent}
        await self.c.store.append(
            self.cb.contact_id,
            "callback.attempt",
            {"number": self.cb.number, "queue": self.cb.queue, "event": event, **extra, **data},
            queue=self.cb.queue,
            agent=agent,
        )

    async def _originate(
        self, endpoint: str, leg: str, seconds: float, caller_id: str, originator: str | None
    ) -> None:
        self._follow(leg, True)
        try:
            await originate(
                self.c.ari,
                endpoint=endpoint,
                leg=leg,
                args=self._args,
                originator=originator,
                ring_seconds=seconds,
                caller_id=caller_id,
            )
        except AriError:
            self._follow(leg, False)
            raise

    def _leg(self, kind: str) -> str:
        return f"cb-{self.cb.seq}-{kind}-{uuid.uuid4().hex[:8]}"

    # the turn

    async def run(self) -> AttemptResult:
        forward = asyncio.create_task(self._forward())
        try:
            return await self._offers()
        finally:
            forward.cancel()
            await self._hang_up()

    async def _hang_up(self) -> None:
        """Whoever is still on this attempt's lines is hung up, its bridge goes."""
        await self.ringer.drop_all()
        for leg in list(self.legs):
            await self._drop(leg)
        if self.bridge is not None:
            bridge, self.bridge = self.bridge, None
            await clean_up(self.c.ari, None, bridge)

    async def _offers(self) -> AttemptResult:
        """Ring agents as the engine offers them, until one answers (then serve), or
        the turn ends (cancelled, or the queue put it out: requeue)."""
        while True:
            now = time.monotonic()
            wake = self.ringer.next_deadline()
            event = await self._next(None if wake == float("inf") else max(0.0, wake - now))
            if event is None:
                await self.ringer.ring_out(time.monotonic())
                continue
            if event["type"] == TICKET:
                item = event["item"]
                if isinstance(item, Offer) and self.settings.order == "customer_first":
                    result = await self._customer_first(item)
                    if result is not None:
                        return result
                elif isinstance(item, Offer):
                    await self.ringer.ring(item)
                elif isinstance(item, Withdrawn):
                    await self.ringer.withdraw(item.offer.agent)
                elif isinstance(item, Finished) and item.outcome != "answered":
                    return AttemptResult("cancelled" if item.outcome == "left" else "requeue")
                continue
            answered = await self.ringer.on_leg_event(event)
            if answered is not None:
                return await self._serve(answered.offer, answered.leg)

    async def _customer_first(self, offer: Offer) -> AttemptResult | None:
        """The agent is reserved for this callback; the customer is dialed first and
        waits with music while the agent's phone rings. None: the offer went away."""
        await self.c.routing.ringing(offer)
        try:
            await self.c.routing.accepted(offer)
        except OfferWithdrawn:
            return None
        try:
            result = await self._customer_then_agent(offer)
        except BaseException:
            await self.c.routing.finished(offer.agent, self.cb.contact_id)
            raise
        return await self._over(offer.agent, result)

    async def _customer_then_agent(self, offer: Offer) -> AttemptResult:
        """Customer first, once the agent is reserved: dial, music, ring, talk."""
        agent = offer.agent
        self.attempt = await self.dialing(agent)
        customer, failed = await self._dial_customer(agent, None)
        if failed is not None:
            return failed
        await self._emit("customer_on_line", agent=agent, attempt=self.attempt)
        customer_gone = AttemptResult("short", agent, {"ended_by": "customer"})
        try:
            await self._say(customer, [Prompt(key="callback_connecting")], self.cb.language)
        except _Gone:
            return customer_gone
        with contextlib.suppress(AriError):
            await self.c.ari.request("POST", f"channels/{customer}/moh")
        endpoint = self.c.endpoints.get(agent)
        agent_leg = self._leg("agent")
        try:
            if endpoint is None:
                raise AriError(0, "agent has no endpoint")
            await self._originate(
                f"PJSIP/{endpoint}", agent_leg, offer.ring_timeout, self.cb.number, customer
            )
        except AriError as error:
            return await self._sorry(customer, agent, str(error))
        answered, _cause = await self._answer(agent_leg, offer.ring_timeout, customer)
        if answered == "agent_lost":  # the customer hung up while waiting
            return customer_gone
        if answered != "answered":
            return await self._sorry(customer, agent, f"agent {answered}")
        try:
            await self._whisper(agent_leg)
        except _Gone:
            return await self._sorry(customer, agent, "agent hung up")
        with contextlib.suppress(AriError):
            await self.c.ari.request("DELETE", f"channels/{customer}/moh")
        return await self._talk(agent, agent_leg, customer)

    async def _over(self, agent: str, result: AttemptResult) -> AttemptResult:
        """The agent's part is over: routing is told. A call cut by Asterisk going away
        is interrupted (module docstring): the node-lost policy instead of `finished`.
        Whoever is still on the line is hung up first: a leader slow to answer (failing
        over, say) must not keep a customer on a line nobody talks on."""
        await self._hang_up()
        if self.cut is None:
            await self.c.routing.finished(agent, self.cb.contact_id)
            return result
        elsewhere, judged = False, False
        if self.c.lost_with_node is not None:
            try:
                elsewhere = await self.c.lost_with_node(self.cb.contact_id, agent)
                judged = True
            except Exception as error:  # the leader unreachable: tried again here
                log.warning(
                    "callback %s: its call cut by Asterisk going away (%s) not judged: %s",
                    self.cb.contact_id,
                    self.cut,
                    error,
                )
        if not judged:
            await self.c.routing.finished(agent, self.cb.contact_id)
        detail = {"lost": self.cut, "after": result.outcome}
        return AttemptResult("cancelled" if elsewhere else "requeue", agent, detail)

    async def _sorry(self, customer: str, agent: str, why: str) -> AttemptResult:
        """Customer first, and the agent could not take it: say so, try again later."""
        with contextlib.suppress(AriError, _Gone):
            await self.c.ari.request("DELETE", f"channels/{customer}/moh")
            await self._say(customer, [Prompt(key="callback_sorry")], self.cb.language)
        return AttemptResult("agent_unavailable", agent, {"error": why})

    async def _serve(self, offer: Offer, agent_leg: str) -> AttemptResult:
        """The agent answered: whisper, dial the customer, talk."""
        try:
            result = await self._agent_then_customer(offer, agent_leg)
        except BaseException:
            await self.c.routing.finished(offer.agent, self.cb.contact_id)
            raise
        return await self._over(offer.agent, result)

    async def _agent_then_customer(self, offer: Offer, agent_leg: str) -> AttemptResult:
        agent = offer.agent
        try:
            await self._whisper(agent_leg)
        except _Gone:
            # Nothing was dialed: the callback keeps its place and its attempts.
            return AttemptResult("requeue", agent)
        self.attempt = await self.dialing(agent)
        ringback = f"ringback-{agent_leg}"
        with contextlib.suppress(AriError):
            await self.c.ari.play(agent_leg, [RINGBACK], lang="en", playback_id=ringback)
        try:
            customer, failed = await self._dial_customer(agent, agent_leg)
        finally:
            with contextlib.suppress(AriError):
                await self.c.ari.stop_playback(ringback)
        if failed is not None:
            return failed
        return await self._talk(agent, agent_leg, customer)

    async def _dial_customer(
        self, agent: str, watch: str | None
    ) -> tuple[str, AttemptResult | None]:
        """Dial the customer's number: their leg, and the failed attempt if they did not
        answer. `watch` is the agent's leg, whose hang-up ends the ringing."""
        customer = self._leg("customer")
        try:
            await self._originate(
                self.c.config.dial_string(self.cb.number),
                customer,
                self.settings.ring_seconds,
                self.c.config.caller_id,
                watch,
            )
        except AriError as error:
            return customer, AttemptResult("failed", agent, {"error": str(error)})
        outcome, cause = await self._answer(customer, self.settings.ring_seconds, watch)
        if outcome != "answered":
            return customer, AttemptResult(outcome, agent, {"cause": cause})
        return customer, None

    async def _whisper(self, leg: str) -> None:
        """Tell the agent who is being called back (queue, number)."""
        queue_key = f"queue_name_{self.cb.queue}"
        queue_prompt = (
            Prompt(key=queue_key)
            if queue_key in self.c.prompts.catalogue
            else Prompt(say="text", value=self.cb.queue)
        )
        await self._say(
            leg,
            [
                Prompt(key="callback_whisper"),
                queue_prompt,
                Prompt(key="callback_whisper_number"),
                Prompt(say="digits", value=self.cb.number),
            ],
            self.c.language,
        )
        await self._emit("whisper")

    async def _say(self, leg: str, prompts: list[Prompt], language: str) -> None:
        """Play prompts to one leg and wait for their end; _Gone if it hangs up."""
        await self.c.prompts.speak(prompts, language)
        uris = [uri for uri, _ in self.c.prompts.media(prompts, language)]
        playback = f"say-{uuid.uuid4().hex[:12]}"
        try:
            await self.c.ari.play(leg, uris, lang=language, playback_id=playback)
        except AriNotFound:
            raise _Gone() from None
        deadline = time.monotonic() + WHISPER_LIMIT
        while (left := deadline - time.monotonic()) > 0:
            event = await self._next(left)
            if event is None:
                break
            if event["type"] == "PlaybackFinished" and event["playback"]["id"] == playback:
                return
            if event["type"] in GONE_EVENTS and channel_of(event) == leg:
                raise _Gone()

    async def _answer(self, leg: str, seconds: float, watch: str | None) -> tuple[str, int | None]:
        """Wait for `leg` to answer: (answered | busy | no_answer | failed | agent_lost,
        hang-up cause). `watch` is the agent's leg, already talking."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            event = await self._next(left)
            if event is None:
                break
            which = channel_of(event)
            if which == watch and event["type"] in GONE_EVENTS:
                await self._drop(leg)
                return "agent_lost", None
            if which != leg:
                continue
            if event["type"] == "StasisStart":
                return "answered", None
            if event["type"] == "ChannelDestroyed":
                self._follow(leg, False)
                cause = int(event.get("cause") or 0)
                return unanswered(cause), cause
        await self._drop(leg)
        return "no_answer", None

    async def _talk(self, agent: str, agent_leg: str, customer: str) -> AttemptResult:
        self.bridge = f"callback-{customer}"
        try:
            await connect(self.c.ari, self.bridge, agent_leg, customer)
        except AriError as error:
            return AttemptResult("failed", agent, {"error": str(error)})
        await self._emit("answered", agent=agent, attempt=self.attempt)
        started = time.monotonic()
        ended_by = "customer"
        while True:
            event = await self._next(None)
            if event is not None and event["type"] in GONE_EVENTS:
                which = channel_of(event)
                if which in (agent_leg, customer):
                    ended_by = "agent" if which == agent_leg else "customer"
                    break
        talk = round(time.monotonic() - started, 1)
        detail = {"talk_seconds": talk, "ended_by": ended_by}
        if talk < self.settings.min_talk_seconds:
            return AttemptResult("short", agent, detail)
        return AttemptResult("completed", agent, detail)
