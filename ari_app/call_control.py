"""Call control over ARI: what an agent (or a supervisor) does with a live call from the
desk or the REST API (`hotline/calls`, the `CallControl` Protocol).

A queued caller's conversation (`conversation.py`) registers its call here while caller
and agent talk in their mixing bridge, and unregisters it before the bridge goes.

- Hold: the caller leaves the conversation's bridge and hears the queue's music on hold
  (on their own channel, in Stasis); the agent's leg stays parked in the bridge alone.
  `call.held` is logged.
- Resume: the music stops and the caller is back in the bridge with the agent;
  `call.resumed` is logged with this hold's length and the call's total.
- A call that ends on hold (either side hangs up) ends its hold first: the music
  stops, and `call.resumed` says `ended` and who hung up; the conversation's
  `queue.call_ended` carries the call's hold time (inside its talk time, so handle
  time counts it; docs/metrics.md).
- Blind transfer to a number (`number:<digits>`): the number passes the callbacks' dial
  rules (`hotline/callbacks/rules.py`: digits, length, allowed prefixes, not the
  hotline's own numbers) and is dialed through `callbacks.dial_template`. The command
  is handed to the conversation's inbox (`TRANSFER_EVENT`): `call.transferred` is
  logged with the note, the agent's leg hangs up and the agent goes to wrap-up, and
  the caller hears ringback until the number answers, then talks with it
  (`transfer.started` / `answered` / `ended`, as a flow's transfer).
- Blind transfer to an agent (`agent:<id>`) or a queue (`queue:<name>`): checked here,
  before the call is touched (an unknown agent or queue: 404; an agent who is offline,
  paused, busy, in wrap-up, or the transferring agent: 409 with the routing engine's
  reason), then handed to the conversation the same way; where the caller goes from
  there (and when the agent does not answer) is `conversation.py`'s.

From the phone: a call the agent places while talking with a caller under control (a
second line, the caller on hold on the phone) is a consultation of that call
(`line_of`, `consult_from_phone`: the number they dialed named as a phone's transfer
names it, `phone_target`); the phone's attended transfer (a REFER with Replaces naming
that second call) completes it (`complete_from_phone`; while the party still rings,
the caller hears it ring and goes to them once they answer). Refused: the second call hangs
up and `call.consult_refused` says why.

Each command on a call runs under that call's lock, the conversation's end too, so a
command never acts on a call that is being torn down: it finds no call (404). A command
that fails half way puts the call back as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from ari_app.client import AriClient, AriError, AriEvent, AriNotFound
from ari_app.consultation import (
    CONSULT_ACTIONS,
    HANDOVER_EVENT,
    Consultation,
    ConsultContacts,
    ConsultRouting,
    refuse_while_consulting,
)
from ari_app.legs import exists
from ari_app.voice_port import Emit
from hotline.acd.model import Channel
from hotline.acd.service import RoutingService
from hotline.acd.settings import QueueSettings
from hotline.callbacks.rules import CallbackRefused, normalize_number, refuse_own
from hotline.callbacks.settings import CallbackConfig
from hotline.calls import (
    BadCommand,
    CallControlError,
    CallState,
    Command,
    Conflict,
    HoldClock,
    NotFound,
    Target,
    check_owner,
)

#: The inbox event that hands a blind transfer to the conversation.
TRANSFER_EVENT = "HotlineCallTransfer"

#: How long a transfer's target rings before the caller's flow goes on.
TRANSFER_RING_SECONDS = 30.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlindTransfer:
    """Where the caller goes, dialed how, and the agent's note."""

    target: Target
    #: The channel that dials a number; None: an agent or a queue (the routing engine's).
    endpoint: str | None
    note: str
    by: str


@dataclass
class LiveCall:
    """A caller talking with an agent in a mixing bridge."""

    contact_id: str
    agent: str
    queue: str
    caller: str  # the caller's channel
    leg: str  # the agent's channel
    bridge: str
    music: str  # the queue's music-on-hold class
    emit: Emit  # the contact's event log
    deliver: Callable[[AriEvent], None]  # into the conversation's inbox
    clock: HoldClock = field(default_factory=HoldClock)
    #: A blind transfer handed to the conversation (it ends the agent's part).
    transfer: BlindTransfer | None = None
    #: The caller can wait in a queue again (transfers to agents and queues).
    routable: bool = True
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Have another channel's events (a consulted party's) sent to the conversation.
    follow: Callable[[str, bool], None] = field(default=lambda channel, on: None)
    #: Whether the conversation routes a consulted party's events (`open(follow=)`).
    consultable: bool = False
    #: The consultation (then maybe conference) of the call, current or last.
    consultation: Consultation | None = None


class AriCallControl:
    """The live calls of this controller and the commands on them (module docstring)."""

    def __init__(
        self,
        ari: AriClient,
        settings: Mapping[str, QueueSettings],
        *,
        agents: Collection[str] = (),
        dialing: CallbackConfig | None = None,
        own_numbers: tuple[str, ...] = (),
        now: Callable[[], float] = time.monotonic,
        routing: RoutingService | None = None,
        endpoints: Mapping[str, str] | None = None,
        consult_contacts: ConsultContacts | None = None,
        phone_owner: Callable[[str], str | None] | None = None,
    ) -> None:
        self.ari = ari
        self.settings = settings  # the queues
        self.agents = frozenset(agents)
        #: Who can take a transfer to an agent now; None: transfers to agents refused.
        self.routing = routing
        #: agent id -> their phone's PJSIP endpoint (what a phone names them by)
        self.endpoints = dict(endpoints or {})
        #: ... and the one to ring now (the browser phone when registered, asked at each
        #: consultation: controller/devices.py)
        self.ring_endpoints: Mapping[str, str] = endpoints if endpoints is not None else {}
        #: endpoint -> the agent whose phone it is (any of their phones), else None;
        #: by default, whose phone of `endpoints` it is
        self._owner_of = phone_owner or {e: agent for agent, e in self.endpoints.items()}.get
        #: The number rules and dial template (the callbacks'); None: no numbers.
        self.dialing = dialing
        self.own_numbers = own_numbers
        self.now = now
        self.calls: dict[str, LiveCall] = {}  # contact id -> its live call
        self.of_agent: dict[str, str] = {}  # agent -> contact id
        #: Consulting agents and queues opens contacts of its own; None: numbers only.
        self.consult_contacts = consult_contacts
        #: Agent legs left talking with a consulted party after their caller left.
        self.kept: set[str] = set()

    # The conversation's side

    def open(
        self,
        contact_id: str,
        agent: str,
        queue: str,
        caller: str,
        leg: str,
        bridge: str,
        emit: Emit,
        deliver: Callable[[AriEvent], None],
        *,
        routable: bool = True,
        follow: Callable[[str, bool], None] | None = None,
    ) -> LiveCall:
        """Caller and agent talk in `bridge`: the call can be controlled (`routable`:
        transferred to agents and queues too, not only to numbers)."""
        settings = self.settings.get(queue)
        music = settings.music_on_hold if settings is not None else "default"
        call = LiveCall(contact_id, agent, queue, caller, leg, bridge, music, emit, deliver)
        call.routable = routable
        if follow is not None:
            call.follow, call.consultable = follow, True
        self.calls[contact_id] = call
        self.of_agent[agent] = contact_id
        return call

    async def close(self, contact_id: str, ended_by: str) -> float:
        """The conversation ends (`ended_by` hung up): no more commands; a hold in
        progress ends. The call's hold time."""
        call = self.calls.get(contact_id)
        if call is None:
            return 0.0
        async with call.lock:
            self.calls.pop(contact_id, None)
            if self.of_agent.get(call.agent) == contact_id:
                del self.of_agent[call.agent]
            await self._consultation_closes(call, ended_by)
            if call.clock.held:
                with contextlib.suppress(AriError):  # the caller may be gone already
                    await self.ari.request("DELETE", f"channels/{call.caller}/moh")
                await self._resumed(call, ended_by, ended=True)
            return round(call.clock.total, 1)

    # CallControl

    def state(self, contact_id: str) -> CallState | None:
        call = self.calls.get(contact_id)
        return None if call is None else self._state(call)

    def live_of_agent(self, agent: str) -> str | None:
        return self.of_agent.get(agent)

    async def act(
        self,
        contact_id: str,
        command: Command,
        *,
        by_agent: str | None,
        by: str = "",
        line: str | None = None,
    ) -> CallState:
        """Carry out `command` (`line`: a consultation on the agent's phone's second
        call, that channel)."""
        call = self._live(contact_id)
        check_owner(self._state(call), by_agent)
        who = by or by_agent or "api"
        async with call.lock:
            if self.calls.get(contact_id) is not call:
                raise NotFound(f"contact {contact_id} has no live call with an agent any more")
            if call.transfer is not None:
                raise Conflict(
                    f"contact {contact_id} is being transferred to {call.transfer.target}"
                )
            try:
                refuse_while_consulting(call.consultation, command.action)
                if command.action in CONSULT_ACTIONS:
                    await self._consulting(call, command, who, line)
                elif command.action == "hold":
                    await self._hold(call, who)
                elif command.action == "resume":
                    await self._resume(call, who)
                elif command.action == "transfer" and command.target is not None:
                    await self._transfer(call, command.target, command.note, who)
                else:
                    raise Conflict(
                        f"{command.action} is not available on this call: this Hotline's "
                        "calls can be held, resumed and transferred"
                    )
            except AriError as error:
                if error.unreachable or not await exists(self.ari, call.caller):
                    raise NotFound(f"contact {contact_id}'s call is ending") from None
                raise Conflict(
                    f"{command.action} failed on contact {contact_id}: {error}"
                ) from None
            return self._state(call)

    # Hold and resume

    async def _hold(self, call: LiveCall, who: str) -> None:
        if call.clock.held:
            raise Conflict(f"contact {call.contact_id} is already on hold")
        try:
            await self.ari.request(
                "POST", f"bridges/{call.bridge}/removeChannel", params={"channel": call.caller}
            )
        except AriNotFound:
            raise NotFound(f"contact {call.contact_id}'s call is ending") from None
        try:
            await self.ari.request(
                "POST", f"channels/{call.caller}/moh", params={"mohClass": call.music}
            )
        except AriError:
            # Back as it was: with the agent, not in silence.
            with contextlib.suppress(AriError):
                await self.ari.request(
                    "POST", f"bridges/{call.bridge}/addChannel", params={"channel": call.caller}
                )
            raise
        call.clock.hold(self.now())
        await call.emit("call.held", {"agent": call.agent, "by": who})
        log.info("contact=%s on hold by %s", call.contact_id, who)

    async def _resume(self, call: LiveCall, who: str) -> None:
        if not call.clock.held:
            raise Conflict(f"contact {call.contact_id} is not on hold")
        try:
            await self.ari.request("DELETE", f"channels/{call.caller}/moh")
            await self.ari.request(
                "POST", f"bridges/{call.bridge}/addChannel", params={"channel": call.caller}
            )
        except AriNotFound:
            raise NotFound(f"contact {call.contact_id}'s call is ending") from None
        await self._resumed(call, who, ended=False)
        log.info("contact=%s resumed by %s", call.contact_id, who)

    # Blind transfer

    def dial(self, target: Target) -> str:
        """The channel that dials a number target; BadCommand if the rules refuse it."""
        if self.dialing is None:
            raise BadCommand("this Hotline dials no numbers (no callbacks: section)")
        try:
            number = normalize_number(target.value, self.dialing)
            refuse_own(number, self.own_numbers)
        except CallbackRefused as refused:
            raise BadCommand(f"cannot dial {target}: {refused}") from None
        return self.dialing.dial_string(number)

    async def _transfer(self, call: LiveCall, target: Target, note: str, who: str) -> None:
        endpoint: str | None = None
        if target.kind != "number" and not call.routable:
            raise Conflict(
                f"contact {call.contact_id} was taken over after a restart: it can be "
                "transferred to a number only"
            )
        if target.kind == "agent":
            self._check_agent(call, target.value)
        elif target.kind == "queue":
            if target.value not in self.settings:
                raise NotFound(f"no queue {target.value!r}")
        else:
            endpoint = self.dial(target)
        call.transfer = BlindTransfer(target, endpoint, note, who)
        call.deliver({"type": TRANSFER_EVENT, "transfer": call.transfer})
        log.info("contact=%s blind transfer to %s by %s", call.contact_id, target, who)

    def _check_agent(self, call: LiveCall, agent: str) -> None:
        """NotFound or Conflict (with the reason) unless `agent` can take the call now."""
        if agent not in self.agents:
            raise NotFound(f"no agent {agent!r}")
        if agent == call.agent:
            raise Conflict(f"contact {call.contact_id} is already with {agent}")
        if self.routing is None:
            raise Conflict("transfer to agents is not available on this Hotline")
        why = self.routing.unavailable(agent, Channel.VOICE)
        if why is not None:
            raise Conflict(f"cannot transfer to {agent}: {why}")

    def phone_target(self, destination: str) -> Target:
        """What a phone's transfer names (a REFER's user part, the digits of `*2...#`): an
        agent by their id or phone extension, a queue by name, or else a number."""
        name = destination.strip()
        for agent, endpoint in sorted(self.endpoints.items()):
            if name in (agent, endpoint):
                return Target("agent", agent)
        if name in self.agents:
            return Target("agent", name)
        if name in self.settings:
            return Target("queue", name)
        return Target("number", name)

    async def _resumed(self, call: LiveCall, who: str, *, ended: bool) -> None:
        length = call.clock.resume(self.now())
        await call.emit(
            "call.resumed",
            {
                "agent": call.agent,
                "by": who,
                "hold_seconds": round(length, 1),
                "total_hold_seconds": round(call.clock.total, 1),
                "ended": ended,
            },
        )

    # Consultation and conference (consultation.py)

    async def _consulting(
        self, call: LiveCall, command: Command, who: str, line: str | None = None
    ) -> None:
        current = call.consultation
        ended = current is None or current.over or current.handed_over
        live = None if ended else current
        if command.action != "consult":
            if live is None:
                raise Conflict(
                    f"contact {call.contact_id} has no consultation to {command.action}; "
                    "consult first"
                )
            if command.action == "cancel":
                await live.cancel(who)
            elif command.action == "conference":
                await live.conference(who)
            else:
                await live.complete(who)
            return
        target = command.target
        assert target is not None
        if live is not None:
            raise Conflict(f"contact {call.contact_id} is already consulting {live.to}")
        if not call.consultable:
            raise Conflict(f"contact {call.contact_id}'s call cannot consult: transfer it instead")
        endpoint: str | None = None
        if target.kind == "agent":
            if target.value not in self.agents:
                raise NotFound(f"no agent {target.value!r}")
            if target.value == call.agent:
                raise Conflict(f"{call.agent} cannot consult themselves")
        elif target.kind == "queue":
            if target.value not in self.settings:
                raise NotFound(f"no queue {target.value!r}")
        else:
            endpoint = self.dial(target)
        routing = None
        if self.routing is not None and self.consult_contacts is not None:
            routing = ConsultRouting(self.routing, self.ring_endpoints, self.consult_contacts)
        if target.kind != "number":
            if routing is None:
                raise Conflict(f"consulting {target.kind}s is not available on this Hotline")
            why = None
            if target.kind == "agent":
                why = routing.routing.unavailable(target.value, Channel.VOICE)
            if why is not None:  # checked again by the engine; here before any hold
                raise Conflict(f"cannot consult {target}: {why}")

        async def resume(by: str) -> None:
            await self._resume(call, by)

        consultation = Consultation(
            self.ari,
            call,
            target,
            command.note,
            who,
            endpoint=endpoint,
            routing=routing,
            now=self.now,
            resume=resume,
            phone_line=line,
        )
        held_here = not call.clock.held
        if held_here:
            await self._hold(call, who)
        try:
            await consultation.start()
        except BaseException:
            if held_here:  # back as it was: talking with the agent
                with contextlib.suppress(AriError, Conflict, NotFound):
                    await self._resume(call, who)
            raise
        call.consultation = consultation

    # From the phone

    def line_of(self, channel: AriEvent) -> str | None:
        """The contact whose agent placed `channel` from their phone while talking with
        its caller under call control (a consultation from the phone), else None."""
        name = str(channel.get("name") or "")
        if not name.startswith("PJSIP/"):
            return None
        endpoint = name[len("PJSIP/") :].rsplit("-", 1)[0]
        # This runs for every new call: one lookup of whose phone it is (a customer's
        # call: nobody's), not a walk of the agents talking now.
        agent = self._owner_of(endpoint)
        contact = self.of_agent.get(agent) if agent is not None else None
        call = self.calls.get(contact) if contact is not None else None
        if call is None or call.agent != agent or not call.consultable:
            return None
        own = self.endpoints.get(call.agent)
        # The phone an agent is rung on is looked up live (ring_endpoints).
        if own is not None and endpoint in (own, self.ring_endpoints.get(call.agent)):
            return contact
        return None

    async def consult_from_phone(self, contact_id: str, channel: AriEvent) -> None:
        """The agent's phone called the number in `channel` (its second call): consult
        it, on that call; refused, the second call hangs up (`call.consult_refused`)."""
        line = str(channel["id"])
        dialed = str((channel.get("dialplan") or {}).get("exten") or "")
        call = self.calls.get(contact_id)
        if call is None:
            with contextlib.suppress(AriError):
                await self.ari.hangup(line)
            return
        try:
            command = Command("consult", self.phone_target(dialed), "")
            await self.act(contact_id, command, by_agent=call.agent, by=call.agent, line=line)
        except CallControlError as refused:
            with contextlib.suppress(AriError):
                await self.ari.hangup(line, reason="busy")
            await call.emit(
                "call.consult_refused", {"agent": call.agent, "to": dialed, "reason": str(refused)}
            )
            log.info("contact=%s phone consult of %s refused: %s", contact_id, dialed, refused)

    async def complete_from_phone(self, contact_id: str, agent: str, line: str) -> None:
        """The phone's attended transfer: the consultation on its second call `line`
        completes (CallControlError, the calls untouched, when there is none)."""
        call = self._live(contact_id)
        consultation = call.consultation
        if consultation is None or consultation.over or consultation.line != line:
            raise Conflict(
                "the phone's other call is not a consultation of this call: consult from "
                "the desk, or call the colleague from the phone while talking, then transfer"
            )
        if consultation.phase == "talking":
            await self.act(contact_id, Command("complete"), by_agent=agent, by=agent)
            return
        # Still ringing (a semi-attended transfer): the caller hears it ring and talks
        # with the party once they answer, as when the agent hangs up meanwhile.
        async with call.lock:
            if call.consultation is consultation and await consultation.agent_left(agent):
                call.deliver({"type": HANDOVER_EVENT, "consultation": consultation})

    async def _consultation_closes(self, call: LiveCall, ended_by: str) -> None:
        """The conversation ends: what is left of its consultation goes, or stays with
        agent and party (the caller left), or was handed over (the caller goes on)."""
        consultation = call.consultation
        if consultation is None or consultation.over or consultation.handed_over:
            return
        if ended_by == "caller":
            if await consultation.caller_left():
                self.kept.add(call.leg)
        else:
            await consultation.end()

    async def consult_event(self, contact_id: str, event: AriEvent) -> Consultation | None:
        """An event from the conversation's inbox that is a consultation's: the
        consultation the caller is handed over to (complete), else None (handled here,
        or not a consultation's)."""
        if event["type"] == HANDOVER_EVENT:
            handover: Consultation = event["consultation"]
            return handover
        call = self.calls.get(contact_id)
        consultation = None if call is None else call.consultation
        if call is None or consultation is None or not consultation.owns(event):
            return None
        async with call.lock:
            await consultation.on_event(event)
        return None

    async def agent_left(self, contact_id: str) -> Consultation | None:
        """The agent hung up: the consultation the caller goes on with, if any."""
        call = self.calls.get(contact_id)
        if call is None or call.consultation is None:
            return None
        async with call.lock:
            consultation = call.consultation
            if consultation.over or not await consultation.agent_left():
                return None
            return consultation

    def keeps(self, leg: str) -> bool:
        """Whether the agent's `leg` stays up after the conversation (talking with a
        consulted party after the caller left); asked once, by the conversation."""
        kept = leg in self.kept
        self.kept.discard(leg)
        return kept

    # Helpers

    def _live(self, contact_id: str) -> LiveCall:
        call = self.calls.get(contact_id)
        if call is None:
            raise NotFound(f"contact {contact_id} has no live call with an agent")
        return call

    def _state(self, call: LiveCall) -> CallState:
        consulting = call.consultation
        if consulting is not None and (consulting.over or consulting.handed_over):
            consulting = None
        return CallState(
            contact_id=call.contact_id,
            agent=call.agent,
            queue=call.queue,
            held=call.clock.held,
            hold_seconds=call.clock.seconds(self.now()),
            consult=None if consulting is None else consulting.state(),
            conference=consulting is not None and consulting.in_conference,
        )
