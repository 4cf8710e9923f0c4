"""Consultation (attended transfer) and three-way conference over ARI.

The agent (or a supervisor) consults with `POST /api/calls/{contact}/consult {"to": ...}`
while talking with a caller (`call_control.py` dispatches the commands here):

- consult: the caller goes on hold (the queue's music, as hold does); the agent hears
  ringback while the target rings: a number through the dial rules and template, an
  agent through the routing engine (`RoutingService.enqueue(agent=...)`: a consult
  contact of its own, so the agent is busy for routing) and the ringer, a queue through
  routing in that queue. The party answers into the conversation's bridge, where the
  agent's leg is: agent and party talk, the caller hears music. State: ringing, talking.
- complete: the caller comes off hold into the bridge with the party; the agent's leg
  hangs up and the agent goes to wrap-up (`call.transferred` kind consult). Caller and
  party talk until either hangs up; then the caller's flow goes on (or ends). A party
  who is an agent (an agent or queue target) then has the caller's call as their own
  (`take_over(adopt=True)`: the conversation logs `queue.connected` with them and puts
  the call under call control, so their desk and the API hold, resume, transfer or
  consult it; its end is `queue.call_ended` with them); their routing offer stays the
  consult contact's, whose end at the call's end is their one wrap-up.
- conference: the caller comes off hold into the same bridge: each hears the others.
  If the party leaves, agent and caller go on as before. If the agent leaves, caller
  and party go on (as after complete). If the caller leaves, the conference ends for
  all, as on a PBX whose conference belongs to the caller's call: the party and the
  agent are hung up, the agent goes to wrap-up.
- cancel: the party's leg hangs up (or its ring stops), the caller comes off hold back
  to the agent.

Every leg's end is handled and logged (`call.consult_started` / `_answered` / `_ended`
with the outcome and who, `call.conference_started` / `_ended`):

- The party hangs up, or does not answer (busy, declined, rang out after
  `CONSULT_RING_SECONDS`, or the engine's ring timeout for an agent): the consultation
  ends and the caller stays on hold with the agent, who chooses: resume, or consult
  someone else. (Resuming by itself would take the choice away; the desk shows the
  call on hold, and a hang-up by the agent still never leaves the caller on hold.)
- The agent hangs up mid-consultation: the caller is never dropped. If the party had
  answered, the caller is connected to them (an attended transfer on hang-up, as
  Asterisk's own attended transfer does); if the party still rings, the caller hears
  it ring and talks with the party if they answer (the transfer becomes blind, as on
  a PBX when the transferrer hangs up early); if they never answer, the caller's flow
  goes on from the queue node's `answered`, as after any transfer that ends.
- The caller hangs up mid-consultation: the contact ends; an answered party stays
  connected with the agent until either hangs up (the agent's routing state goes to
  wrap-up at once, the contact being over); a party still ringing is hung up.

Nobody is left in a bridge or on hold: each end hangs up or reconnects the others, and
the bridge goes with the last of them.

From the phone (`phone_line`): the agent, talking with the caller, puts them on hold
on the phone and dials a colleague's extension, a queue's name or a number: that second
call reaches Hotline (`AriCallControl.consult_from_phone`) and is this consultation's
agent line: the caller is held as above, the agent hears ringback on the second call,
the party answers into a bridge of its own with it (`consult-<line>`). The phone's
attended transfer (a REFER with Replaces naming the second call) completes it: the
party is moved into the conversation's bridge, both of the agent's calls hang up. A
transfer while the party still rings (a phone's semi-attended transfer) goes on as
the agent's hang-up while ringing does: the caller hears it ring and talks with the
party once they answer. The agent hanging up the second call cancels it (the party is
hung up); a party that hangs up or never answers ends the second call too; either way
the caller comes off hold, back to the agent's first call (which their phone resumes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ari_app.client import AriClient, AriError, AriEvent
from ari_app.events import GONE_EVENTS, channel_of
from ari_app.legs import RINGBACK, clean_up, exists, originate, unanswered
from ari_app.ringer import AgentRinger
from hotline.acd.decisions import Offer
from hotline.acd.model import Outcome
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService
from hotline.acd.tickets import Finished, Ticket, Withdrawn
from hotline.calls import Conflict, ConsultState, Target
from hotline.calls.state import ConsultPhase
from hotline.store import Store

if TYPE_CHECKING:
    from ari_app.call_control import LiveCall
    from ari_app.voice_port import VoicePort

log = logging.getLogger(__name__)

#: The inbox event that ends the agent's part of the conversation (complete).
HANDOVER_EVENT = "HotlineConsultHandover"

#: How long a consulted number rings before the consultation is given up.
CONSULT_RING_SECONDS = 30.0

#: How often a consultation left to agent and party (the caller gone) checks its legs.
LINGER_POLL_SECONDS = 0.5


def ringback_of(leg: str) -> str:
    """The playback id of the ringback an agent's `leg` hears while consulting."""
    return f"consult-ring-{leg}"


#: The commands this module carries out.
CONSULT_ACTIONS = frozenset({"consult", "complete", "conference", "cancel"})


def refuse_while_consulting(consultation: Consultation | None, action: str) -> None:
    """Conflict for a hold, resume or blind transfer while a consultation or conference
    is live: the consultation's own commands end it first."""
    if consultation is None or consultation.over or consultation.handed_over:
        return
    if action in CONSULT_ACTIONS:
        return
    contact = consultation.call.contact_id
    if consultation.in_conference:
        raise Conflict(
            f"contact {contact} is in a conference with {consultation.party}: "
            f"{action} is not available until it ends (complete leaves them together)"
        )
    raise Conflict(
        f"contact {contact} is consulting {consultation.to}: complete, conference or "
        f"cancel the consultation before {action}"
    )


class ConsultContacts(Protocol):
    """The consult contacts an agent or queue target needs in the log (the routing
    engine logs each offer against a contact)."""

    async def open(self, agent: str, target: str, about: str) -> str:
        """A new outbound contact from `agent` to `target` about the caller's
        contact `about` (its customer, so the consulted agent's desk shows them); its id."""
        ...

    async def close(self, contact_id: str, status: str) -> None: ...


class StoreConsultContacts:
    """Consult contacts in the store: the agent's outbound calls (channel `outbound`,
    as a click-to-call's), so reports count them as the agent's handling and not as
    visits of the queue they pass through (docs/metrics.md)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def open(self, agent: str, target: str, about: str) -> str:
        caller = await self.store.contact(about)
        return await self.store.open_contact(
            "outbound",
            "outbound",
            f"agent:{agent}",
            target,
            customer_id=None if caller is None else caller.customer_id,
        )

    async def close(self, contact_id: str, status: str) -> None:
        await self.store.close_contact(contact_id, status)


@dataclass(frozen=True)
class ConsultRouting:
    """What consulting an agent or a queue needs: the engine, the agents' phones,
    and the consult contacts."""

    routing: RoutingService
    endpoints: Mapping[str, str]
    contacts: ConsultContacts


class Consultation:
    """One consultation of a live call, then maybe its conference (module docstring)."""

    def __init__(
        self,
        ari: AriClient,
        call: LiveCall,
        target: Target,
        note: str,
        by: str,
        *,
        endpoint: str | None = None,
        routing: ConsultRouting | None = None,
        now: Callable[[], float] = time.monotonic,
        ring_seconds: float = CONSULT_RING_SECONDS,
        resume: Callable[[str], Awaitable[None]] | None = None,
        phone_line: str | None = None,
    ) -> None:
        self.ari = ari
        self.call = call
        self.target = target
        self.note = note
        self.by = by
        self.endpoint = endpoint  # the dial string of a number target
        self.routing = routing
        self.now = now
        self.ring_seconds = ring_seconds
        #: Bring the held caller back to the agent (the call control's resume).
        self.resume = resume
        #: The agent's second call from their phone (module docstring); None: the agent
        #: consults on the conversation's leg (the desk, the API).
        self.line = phone_line
        #: Where the agent talks with the party: the conversation's bridge, or the line's.
        self.bridge = call.bridge if phone_line is None else f"consult-{phone_line}"
        self.phase: ConsultPhase = "ringing"
        self.started = now()
        self.leg: str | None = None  # the party's channel once known (a number: at once)
        self.party = ""  # who answered: the number, or the agent
        self.conference_since: float | None = None
        self.over = False
        # Named by the agent's leg: a restarted controller stops it (ari_app/recovery.py).
        self.ring = ringback_of(self.agent_leg)
        self.rang_out = False
        self.handed_over = False  # the agent left: caller and party go on
        self.rejoin = False  # the caller was on hold when handed over: back in the bridge
        self.ended_logged = False  # call.consult_ended is in the log
        self.adopted_at = 0.0  # when the caller started talking with an adopting party
        # An agent or queue target
        self.contact: str | None = None  # the consult contact
        self.ticket: Ticket | None = None
        self.ringer: AgentRinger | None = None
        self.offer: Offer | None = None  # the answered offer
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def to(self) -> str:
        return str(self.target)

    @property
    def agent_leg(self) -> str:
        """The agent's channel in this consultation (their phone's second call, or the
        conversation's leg)."""
        return self.call.leg if self.line is None else self.line

    @property
    def in_conference(self) -> bool:
        return self.conference_since is not None

    def state(self) -> ConsultState:
        return ConsultState(self.to, self.phase, self.party)

    # Start

    async def start(self) -> None:
        """Ring the target, the agent hearing ringback (the caller is on hold already).
        Raises Conflict (nothing left ringing) when the target cannot be called."""
        if self.line is not None:
            await self._open_line(self.line)
        try:
            await self._call_target()
        except BaseException:
            await self._drop_line()
            raise
        await self._ringback(on=True)
        await self.call.emit(
            "call.consult_started",
            {"agent": self.call.agent, "to": self.to, "by": self.by, "note": self.note},
        )
        log.info("contact=%s consults %s (by %s)", self.call.contact_id, self.to, self.by)

    async def _call_target(self) -> None:
        call = self.call
        if self.target.kind == "number":
            assert self.endpoint is not None
            self.leg = f"{call.caller}-consult-{uuid.uuid4().hex[:8]}"
            call.follow(self.leg, True)
            try:
                await originate(
                    self.ari,
                    endpoint=self.endpoint,
                    leg=self.leg,
                    args=f"consult,{call.caller}",
                    originator=self.agent_leg,
                    ring_seconds=self.ring_seconds,
                )
            except AriError as error:
                call.follow(self.leg, False)
                raise Conflict(f"cannot call {self.to}: {error}") from None
            self._spawn(self._ring_out(self.leg), "consult-ring-out")
        else:
            await self._enqueue()

    async def _open_line(self, line: str) -> None:
        """The phone's second call: answered, in a bridge of its own, followed."""
        self.call.follow(line, True)
        try:
            await self.ari.answer(line)
            await self.ari.request(
                "POST", "bridges", params={"type": "mixing", "bridgeId": self.bridge}
            )
            await self.ari.request(
                "POST", f"bridges/{self.bridge}/addChannel", params={"channel": line}
            )
        except AriError as error:
            await self._drop_line()
            raise Conflict(f"the phone's call to {self.to} was lost: {error}") from None

    async def _drop_line(self) -> None:
        """The phone's second call and its bridge go (once)."""
        line, self.line = self.line, None
        if line is None:
            return
        self.call.follow(line, False)
        await clean_up(self.ari, line, self.bridge)
        self.bridge = self.call.bridge

    async def _to_callers_bridge(self) -> None:
        """A phone consultation goes on without the agent's second call: an answered
        party is moved into the conversation's bridge (the caller's), the line goes."""
        if self.line is None:
            return
        if self.leg is not None and self.phase == "talking":
            with contextlib.suppress(AriError):
                await self.ari.request(
                    "POST", f"bridges/{self.bridge}/removeChannel", params={"channel": self.leg}
                )
            await self.ari.request(
                "POST", f"bridges/{self.call.bridge}/addChannel", params={"channel": self.leg}
            )
        await self._drop_line()

    async def _enqueue(self) -> None:
        """An agent or queue target: a consult contact offered through the engine."""
        if self.routing is None:
            raise Conflict(f"consulting {self.target.kind}s is not available on this Hotline")
        call = self.call
        queue = self.target.value if self.target.kind == "queue" else call.queue
        agent = self.target.value if self.target.kind == "agent" else None
        if agent == call.agent:
            raise Conflict(f"{agent} cannot consult themselves")
        contact = await self.routing.contacts.open(call.agent, self.to, call.contact_id)
        try:
            ticket = await self.routing.routing.enqueue(contact, "voice", queue, agent=agent)
        except RoutingError as refused:
            await self.routing.contacts.close(contact, "failed")
            raise Conflict(f"cannot consult {self.to}: {refused}") from None
        if not ticket.joined:
            await self.routing.contacts.close(contact, "failed")
            raise Conflict(f"cannot consult {self.to}: the queue is {ticket.join.outcome.value}")
        self.contact, self.ticket = contact, ticket
        self.ringer = AgentRinger(
            self.ari,
            self.routing.routing,
            self.routing.endpoints,
            call.follow,
            leg_name=lambda: f"{call.caller}-consult-{uuid.uuid4().hex[:8]}",
            args=f"consult,{call.caller}",
            caller_id=call.agent,
            originator=self.agent_leg,
        )
        self._spawn(self._offers(ticket, self.ringer), "consult-offers")

    async def _offers(self, ticket: Ticket, ringer: AgentRinger) -> None:
        """The engine's offers for the consult contact: ring each, until it ends."""
        async for item in ticket:
            if isinstance(item, Offer):
                await ringer.ring(item)
            elif isinstance(item, Withdrawn):
                await ringer.withdraw(item.offer.agent)
            elif isinstance(item, Finished) and item.outcome is not Outcome.ANSWERED:
                async with self.call.lock:
                    if not self.over and self.phase == "ringing":
                        await self._party_gone("unanswered", item.outcome.value)

    async def _ring_out(self, leg: str) -> None:
        """A number that rings too long is given up (its end is then logged)."""
        await asyncio.sleep(self.ring_seconds)
        if self.phase == "ringing" and not self.over:
            self.rang_out = True
            with contextlib.suppress(AriError):
                await self.ari.hangup(leg)

    # Events of the party's leg (from the conversation's inbox)

    def owns(self, event: AriEvent) -> bool:
        """Whether the event is about the party's leg (or one ringing for it)."""
        channel = channel_of(event)
        if channel is None:
            return False
        if channel in (self.leg, self.line):
            return True
        return self.ringer is not None and channel in self.ringer.rings

    async def on_event(self, event: AriEvent) -> None:
        """The party answered, or its leg ended; or the agent hung up the phone's line."""
        if self.over:
            return
        if self.line is not None and channel_of(event) == self.line:
            if event["type"] in GONE_EVENTS:  # (its bridge goes with the cancel)
                await self.cancel("agent")
            return
        if self.ringer is not None and channel_of(event) in self.ringer.rings:
            answered = await self.ringer.on_leg_event(event)
            if answered is not None:
                self.offer, self.leg = answered.offer, answered.leg
                await self._answered(answered.offer.agent)
            return
        if channel_of(event) != self.leg:
            return
        if event["type"] == "StasisStart" and self.phase == "ringing":
            await self._answered(self.target.value)
        elif event["type"] == "ChannelDestroyed" and self.phase == "ringing":
            cause = int(event.get("cause") or 0)
            why = "no_answer" if self.rang_out else unanswered(cause)
            await self._party_gone("failed" if why == "failed" else "unanswered", why)
        elif event["type"] in GONE_EVENTS and self.phase == "talking":
            await self._party_gone("hung_up", "party")

    async def _answered(self, party: str) -> None:
        call = self.call
        self.party, self.phase = party, "talking"
        await self._ringback(on=False)
        assert self.leg is not None
        try:
            await self.ari.request(
                "POST", f"bridges/{self.bridge}/addChannel", params={"channel": self.leg}
            )
        except AriError as error:
            log.warning("contact=%s: consulted %s lost: %s", call.contact_id, party, error)
            await self._party_gone("failed", "party")
            return
        await call.emit(
            "call.consult_answered", {"agent": call.agent, "to": self.to, "party": party}
        )

    async def _party_gone(self, outcome: str, by: str) -> None:
        """The party hung up or never answered: the agent is back with the caller (on
        hold, or in the conference, which goes on as a two-way call)."""
        await self._ringback(on=False)
        if self.in_conference:
            await self._conference_ended("party")
        elif not self.ended_logged:  # (after a hand-over, `take_over` logs the end)
            await self._ended(outcome, by)
        await self._release(answered=self.party != "")
        self._finish()
        if self.line is not None:  # the phone's second call ends; the caller is back
            await self._drop_line()
            if self.resume is not None and not self.handed_over:
                with contextlib.suppress(AriError, Conflict):
                    await self.resume("party")

    # Commands (under the call's lock)

    async def cancel(self, who: str) -> None:
        """The agent goes back to the caller; the party is hung up."""
        if self.in_conference:
            raise Conflict(
                f"contact {self.call.contact_id} is in a conference; "
                "the party hangs up to end it, or complete leaves them with the caller"
            )
        await self._ringback(on=False)
        await self._ended("cancelled", who)
        await self._release(answered=self.phase == "talking")
        self._finish()
        await self._drop_line()
        if self.resume is not None:
            await self.resume(who)

    async def conference(self, who: str) -> None:
        """Caller, agent and party all in the bridge."""
        call = self.call
        if self.in_conference:
            raise Conflict(f"contact {call.contact_id} is already in a conference")
        if self.phase != "talking":
            raise Conflict(f"{self.to} has not answered yet; wait, or cancel the consultation")
        if self.line is not None:
            raise Conflict(
                f"contact {call.contact_id} consults from the phone: transfer from the phone, "
                "or hang up its second call"
            )
        if self.resume is not None:
            await self.resume(who)
        self.conference_since = self.now()
        await self._ended("conference", who)
        await call.emit(
            "call.conference_started",
            {"agent": call.agent, "to": self.to, "party": self.party, "by": who},
        )
        log.info("contact=%s conference with %s (by %s)", call.contact_id, self.party, who)

    async def complete(self, who: str) -> None:
        """The party takes the caller; the agent's part ends (the conversation, told
        through its inbox, hangs up the agent's leg and sends them to wrap-up)."""
        call = self.call
        if self.phase != "talking":
            raise Conflict(f"{self.to} has not answered yet; wait, or cancel the consultation")
        await self._to_callers_bridge()
        if not self.in_conference and self.resume is not None:
            await self.resume(who)
        await self._hand_over(who)
        call.deliver({"type": HANDOVER_EVENT, "consultation": self})

    async def _hand_over(self, who: str) -> None:
        call = self.call
        self.handed_over = True
        if self.in_conference:
            await self._conference_ended(who)
        else:
            await self._ended("completed", who)
        await call.emit(
            "call.transferred",
            {"agent": call.agent, "to": self.to, "kind": "consult", "note": self.note, "by": who},
        )
        log.info("contact=%s handed over to %s (by %s)", call.contact_id, self.party, who)

    # The conversation's end

    async def agent_left(self, by: str = "agent") -> bool:
        """The agent hung up (or their phone transferred while the party still rings,
        `by` them): True if the caller goes on with the party (ringing or answered),
        which `take_over` then carries out."""
        if self.over:
            return False
        self.rejoin = self.call.clock.held
        with contextlib.suppress(AriError):
            await self._to_callers_bridge()
        if self.phase == "talking":
            await self._hand_over(by)
            return True
        # Still ringing: the caller hears it ring (a blind transfer, as on a PBX).
        self.handed_over = True
        await self._ringback(on=False)
        await self.call.emit(
            "call.transferred",
            {
                "agent": self.call.agent,
                "to": self.to,
                "kind": "consult",
                "note": self.note,
                "by": by,
            },
        )
        return True

    async def caller_left(self) -> bool:
        """The caller hung up: True if agent and party stay connected (they were
        consulting), False if the consultation is over (it rang, or it was a
        conference, which ends for all)."""
        if self.over:
            return False
        await self._ringback(on=False)
        if self.in_conference:
            await self._conference_ended("caller")
            await self._release(answered=True)
            self._finish()
            return False
        if self.phase == "ringing":
            await self._ended("hung_up", "caller")
            await self._release(answered=False)
            self._finish()
            await self._drop_line()
            return False
        await self._ended("hung_up", "caller")
        self._spawn(self._linger(), "consult-linger")
        # (from the phone, agent and party talk on its second call: the first goes)
        return self.line is None

    async def _linger(self) -> None:
        """Agent and party go on talking after the caller left, until either hangs up;
        then the other is hung up and the bridge goes."""
        call = self.call
        assert self.leg is not None
        agent_leg = self.agent_leg
        try:
            while await exists(self.ari, agent_leg) and await exists(self.ari, self.leg):
                await asyncio.sleep(LINGER_POLL_SECONDS)
        except AriError:
            pass  # Asterisk went away: so did the legs
        finally:
            await clean_up(self.ari, agent_leg, None)
            await self._release(answered=True)
            await self._drop_line()
            await clean_up(self.ari, None, call.bridge)
            self._finish()

    async def take_over(self, port: VoicePort, *, adopt: bool = False) -> bool:
        """After the agent left (complete, or their hang-up): caller and party talk in
        the bridge until either hangs up (CallerGone if the caller does); a party
        still ringing is waited for (the caller hears ringback).

        `adopt`: once an agent party (an agent or queue target) talks with the caller,
        return True at once: the conversation makes theirs a call like any other
        (call control, its end logged with them), then calls `adopted_ended`."""
        call = self.call
        ringback = f"consult-ringback-{call.caller}"
        started = self.now()
        ended_by = "caller"
        adopted = False
        try:
            if self.rejoin:  # off hold (its music stopped with the agent's part)
                await port.guarded(
                    self.ari.request(
                        "POST", f"bridges/{call.bridge}/addChannel", params={"channel": call.caller}
                    )
                )
            if self.phase == "ringing":
                await port.guarded(
                    self.ari.play(call.caller, [RINGBACK], lang="en", playback_id=ringback)
                )
            while not self.over:
                if adopt and self.phase == "talking" and self.offer is not None:
                    adopted = True
                    self.adopted_at = started
                    return True
                # A second at most: the engine may end an agent's or a queue's ring.
                event = await port.next_event(1.0)
                if event is None or not self.owns(event):
                    continue
                was = self.phase
                await self.on_event(event)
                if was == "ringing" and self.phase == "talking":
                    with contextlib.suppress(AriError):
                        await self.ari.stop_playback(ringback)
                    await self._ended("completed", "agent")  # the transfer went through
                    started = self.now()
            ended_by = "party"
        finally:
            with contextlib.suppress(AriError):
                await self.ari.stop_playback(ringback)
            if not adopted:
                await self._taken_over_ends(port, started, ended_by)
        return False

    async def _taken_over_ends(self, port: VoicePort, started: float, ended_by: str) -> None:
        """Caller and party (not adopted) are done: the rest goes, the bridge too."""
        call = self.call
        if self.party and not self.in_conference:
            await call.emit(
                "transfer.ended",
                {
                    "target": self.to,
                    "outcome": "answered",
                    "ended_by": ended_by,
                    "talk_seconds": round(self.now() - started, 1),
                },
            )
        if not self.over:  # the caller left first
            if not self.ended_logged:  # (still ringing: the transfer never happened)
                await self._ended("hung_up", "caller")
            await self._release(answered=self.party != "")
            self._finish()
        if not port.gone:
            await port.leave_bridge(call.bridge)
        await clean_up(self.ari, None, call.bridge)

    async def adopted_ended(self, ended_by: str) -> None:
        """The adopted call (`take_over(adopt=True)`) ended (`ended_by` as its
        `queue.call_ended` says): its end logged, the consult contact's offer finished
        (the party's one wrap-up) and that contact closed. The party's leg and the
        bridge are the conversation's, already hung up or kept."""
        if self.over:
            return
        await self.call.emit(
            "transfer.ended",
            {
                "target": self.to,
                "outcome": "answered",
                "ended_by": "caller" if ended_by == "caller" else "party",
                "talk_seconds": round(self.now() - self.adopted_at, 1),
            },
        )
        self.leg = None  # (not ours to hang up any more)
        await self._release(answered=True)
        self._finish()

    async def end(self) -> None:
        """Whatever is left of it goes (the call ends without the usual paths)."""
        if not self.over:
            await self._ringback(on=False)
            if self.in_conference:
                await self._conference_ended("agent")
            elif not self.ended_logged:
                await self._ended("hung_up", "agent")
            await self._release(answered=self.party != "")
            self._finish()
            await self._drop_line()

    # Helpers

    async def _ended(self, outcome: str, by: str) -> None:
        call = self.call
        self.ended_logged = True
        await call.emit(
            "call.consult_ended",
            {
                "agent": call.agent,
                "to": self.to,
                "outcome": outcome,
                "by": by,
                "seconds": round(self.now() - self.started, 1),
            },
        )
        log.info("contact=%s consultation with %s: %s (%s)", call.contact_id, self.to, outcome, by)

    async def _conference_ended(self, by: str) -> None:
        assert self.conference_since is not None
        await self.call.emit(
            "call.conference_ended",
            {
                "agent": self.call.agent,
                "by": by,
                "seconds": round(self.now() - self.conference_since, 1),
            },
        )
        self.conference_since = None

    async def _release(self, *, answered: bool) -> None:
        """The party's leg and its routing: hung up, offer withdrawn or finished."""
        if self.leg is not None:
            await clean_up(self.ari, self.leg, None)
            self.call.follow(self.leg, False)
        if self.ringer is not None:
            await self.ringer.drop_all()
        if self.routing is not None and self.contact is not None:
            routing = self.routing.routing
            with contextlib.suppress(RoutingError):
                if self.offer is not None:
                    await routing.finished(self.offer.agent, self.contact)
                else:
                    await routing.leave(self.contact, Outcome.LEFT)
            with contextlib.suppress(Exception):  # the log may be gone on shutdown
                await self.routing.contacts.close(
                    self.contact, "completed" if answered else "abandoned"
                )
            self.contact = None

    async def _ringback(self, *, on: bool) -> None:
        """What the agent hears while the party rings."""
        with contextlib.suppress(AriError):
            if on:
                await self.ari.play(self.agent_leg, [RINGBACK], lang="en", playback_id=self.ring)
            else:
                await self.ari.stop_playback(self.ring)

    def _finish(self) -> None:
        self.over = True
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current and task.get_name() != "consult-linger":
                task.cancel()

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "contact=%s consultation task failed",
                self.call.contact_id,
                exc_info=task.exception(),
            )
