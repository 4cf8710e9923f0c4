"""Taking over the calls a previous controller left in Asterisk, and closing the rest.

A controller killed outright (SIGKILL, a crash, the OOM killer) leaves its calls running
in Asterisk: callers in a queue's holding bridge keep hearing its music on hold, and
conversations go on in their mixing bridges. Each time the ARI events WebSocket
connects, before any new event is handled, `Recovery.run` compares what Asterisk has
(GET /channels and /bridges) with the voice contacts the store says are active:

- a caller in a holding bridge `hold-*` (`hold-<queue>-<token>-<n>`, one caller each,
  pooled: ari_app/holding.py; also `hold-<queue>-<channel>` and a shared `hold-<queue>`
  of older versions; the queue is read from the event log, not the id) goes back to
  its place in the queue (its original entry time, from the event log:
  hotline/acd/restore.py) and waits on, with its music, announcements and leave key
  (its bridge destroyed once it stops waiting); callers are served in their original
  order;
- a caller talking to an agent in `talk-<leg>` is left talking; the agent stays busy
  until either side hangs up, then wraps up as usual; a recording in progress is
  completed and stored; a caller talking to a transfer target (`xfer-<leg>`) likewise;
- a caller the agent had put on hold (out of `talk-<leg>`, hearing music on hold),
  also while the agent consulted someone, is brought back to the agent, whose leg is
  still in that bridge: the consulted party's leg, answered or ringing, is hung up
  (`call.consult_ended` failed, by controller_restart), the music stops and
  `call.resumed` is logged (by recovery); then the conversation goes on as above. A
  held caller whose agent hung up meanwhile starts the flow again (below), as a
  caller in the IVR does: nobody is left on hold for ever;
- a caller in the middle of the IVR starts the number's flow again, as a new contact
  (the old one ends "lost"): its place in the flow died with the old controller;
- after the queue or the conversation the call ends with a goodbye (or "no agents")
  prompt: the flow after the queue node is not resumed either;
- agent and transfer legs still ringing, and channels in our application with no
  active contact (orphans), are hung up and logged; bridges of ours with no caller
  left are destroyed (an idle holding bridge of the old controller's pool too);
- a caller's speech helpers (ari_app/speech.py: the `speech-<caller>` bridge, the
  `<caller>-snoop` and `<caller>-media` channels) go unless a call of this controller
  still uses them: destroyed and hung up before the caller's flow restarts, which makes
  them anew under the same names;
- active voice contacts whose channel is gone from Asterisk end "lost", reason
  `controller_restart` on the first connection of this controller and
  `asterisk_restart` on later ones (Asterisk restarted under us).

What this controller's own sessions handle is left alone, so the same pass after a
reconnection only picks up what was dropped. Each pass logs `controller.recovered`
with its counts and how long it took.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ari_app.app import StasisApp
from ari_app.client import AriError, AriEvent
from ari_app.consultation import ringback_of
from ari_app.legs import clean_up
from ari_app.monitoring import MONITOR_PREFIX
from ari_app.queueing import VoiceQueue
from ari_app.speech import bridge_owner, helper_owner
from ari_app.voice_port import VoicePort
from hotline.acd.model import Contact as RoutingContact
from hotline.acd.restore import Place, Talking, clock_of, place_of
from hotline.acd.service import Ticket
from hotline.contacts import ContactRun
from hotline.flows.port import Prompt
from hotline.store import Contact, Store
from hotline.store.active import active_contacts
from voice.caller_id import caller_id
from voice.contact import ContactCall

log = logging.getLogger(__name__)

HOLD, TALK, TRANSFER = "hold-", "talk-", "xfer-"
#: The bridge of an agent's phone's second call with the party it consults
#: (ari_app/consultation.py): not carried over, its channels are orphans.
CONSULT_LINE = "consult-"
#: Ids of outbound legs (ari_app/queueing.py, voice_port.py, consultation.py):
#: "<caller>-agent-<hex>", "<caller>-consult-<hex>".
LEG_MARKS = ("-agent-", "-xfer-", "-consult-")
#: Stands for the restarted controller in the events it logs for a call it took over.
BY = "recovery"
#: Stasis arguments of channels another adapter takes over after a restart.
FOREIGN = frozenset({"callback"})
#: Queue outcomes after which the caller is told no agent could take the call.
UNSERVED = frozenset({"timeout", "closed", "full"})


@dataclass(frozen=True)
class Waiting:
    channel: str
    bridge: str
    contact: Contact


@dataclass(frozen=True)
class Conversation:
    channel: str
    #: None: the other side hung up while no controller ran; the caller is alone.
    leg: str | None
    bridge: str
    contact: Contact
    #: The caller was on hold (out of the bridge, which holds the agent's leg alone).
    held: bool = False

    @property
    def with_agent(self) -> bool:
        return self.bridge.startswith(TALK)


@dataclass
class Survey:
    """What a recovery pass found, before acting on it."""

    waiting: list[Waiting] = field(default_factory=list)
    talking: list[Conversation] = field(default_factory=list)
    #: Callers in the middle of their flow (no bridge): the channel and its contact.
    restart: list[tuple[AriEvent, Contact]] = field(default_factory=list)
    #: Channels to hang up: legs left ringing, channels of ours with no contact.
    orphans: list[str] = field(default_factory=list)
    #: Callers in a state we cannot carry on (a bridge alone): hung up, contact lost.
    stranded: list[tuple[str, Contact]] = field(default_factory=list)
    #: Active contacts whose channel is gone.
    gone: list[Contact] = field(default_factory=list)
    #: Bridges of ours with nobody to carry on in them.
    stale_bridges: list[str] = field(default_factory=list)


def in_app(channel: AriEvent, app: str) -> bool:
    """The channel runs Stasis(<app>,…)."""
    dialplan = channel.get("dialplan") or {}
    data = str(dialplan.get("app_data") or "")
    return dialplan.get("app_name") == "Stasis" and data.split(",", 1)[0] == app


def kind(channel: AriEvent) -> str:
    """What a channel in Stasis is for: its first argument ("inbound", "callback", …)."""
    data = str((channel.get("dialplan") or {}).get("app_data") or "")
    parts = data.split(",")
    return parts[1] if len(parts) > 1 else ""


def speech_leftovers(
    channels: Iterable[AriEvent], bridges: Iterable[AriEvent], owned: Callable[[str], bool]
) -> tuple[list[str], list[str], set[str]]:
    """Speech helpers a dead controller left: (channels to hang up, bridges to destroy,
    every helper channel's id). Those of a caller this controller runs stay."""
    helpers: set[str] = set()
    hang_up: list[str] = []
    for channel in channels:
        owner = helper_owner(channel)
        if owner is not None:
            helpers.add(channel["id"])
            if not owned(owner):
                hang_up.append(channel["id"])
    destroy = [
        b["id"] for b in bridges if (owner := bridge_owner(b)) is not None and not owned(owner)
    ]
    return hang_up, destroy, helpers


def survey(
    app: str,
    channels: Iterable[AriEvent],
    bridges: Iterable[AriEvent],
    contacts: Iterable[Contact],
    owned: Callable[[str], bool],
    owned_contacts: set[str],
    others: Iterable[str] = (),
) -> Survey:
    """Sort what Asterisk has and the store's active voice contacts into what to do
    (see the module docstring). `owned` channels and `owned_contacts` belong to this
    controller's running sessions and are left alone; so are `others` (the channels
    of other active contacts: callbacks) and channels in Stasis for a callback, with
    whatever shares a bridge with them: their own adapters take them over."""
    channels, bridges = list(channels), list(bridges)
    speech_channels, speech_bridges, helpers = speech_leftovers(channels, bridges, owned)
    foreign = set(others) | {c["id"] for c in channels if in_app(c, app) and kind(c) in FOREIGN}
    # A supervisor's monitoring, or a consultation from an agent's phone, is not carried
    # over: its bridge goes (its channels, ours with no contact, are orphans); one of
    # this controller's own stays.
    monitoring = [
        b["id"]
        for b in bridges
        if str(b.get("id", "")).startswith((MONITOR_PREFIX, CONSULT_LINE))
        and not any(owned(ch) for ch in b.get("channels", []))
    ]
    bridges = [b for b in bridges if str(b.get("id", "")).startswith((HOLD, TALK, TRANSFER))]
    live = {c["id"] for c in channels}
    by_channel = {
        c.asterisk_channel: c
        for c in contacts
        if c.asterisk_channel and c.id not in owned_contacts and not owned(c.asterisk_channel)
    }
    bridge_of = {ch: b for b in bridges for ch in b.get("channels", [])}
    held = held_callers(bridges, by_channel, bridge_of)
    found = Survey(orphans=speech_channels, stale_bridges=speech_bridges + monitoring)
    legs: set[str] = set(foreign) | helpers
    for bridge in bridges:
        members = list(bridge.get("channels", []))
        if not bridge["id"].startswith(HOLD) and foreign.intersection(members):
            legs.update(members)
            continue
        callers = [ch for ch in members if ch in by_channel]
        if bridge["id"] in held:
            conversation = held[bridge["id"]]
            assert conversation.leg is not None
            legs.add(conversation.leg)  # (a consulted party's leg is an orphan)
            found.talking.append(conversation)
            continue
        if bridge["id"].startswith((TALK, TRANSFER)) and len(callers) == 1 and len(members) == 2:
            (caller,) = callers
            (leg,) = [ch for ch in members if ch != caller]
            legs.add(leg)
            found.talking.append(Conversation(caller, leg, bridge["id"], by_channel[caller]))
        elif bridge["id"].startswith((TALK, TRANSFER)) and members and members == callers[:1]:
            (caller,) = callers
            found.talking.append(Conversation(caller, None, bridge["id"], by_channel[caller]))
        elif bridge["id"].startswith(HOLD):
            for caller in callers:
                found.waiting.append(Waiting(caller, bridge["id"], by_channel[caller]))
        if not callers and not any(owned(ch) or ch in foreign for ch in members):
            found.stale_bridges.append(bridge["id"])
    taken = {w.channel for w in found.waiting} | {t.channel for t in found.talking} | legs
    for channel in channels:
        cid = channel["id"]
        if cid in taken or owned(cid):
            continue
        contact = by_channel.get(cid)
        ours = in_app(channel, app)
        if contact is None:
            if ours or any(mark in cid for mark in LEG_MARKS):
                found.orphans.append(cid)
        elif not ours:
            continue  # in the dialplan or a FastAGI flow: not ours to carry on
        elif cid in bridge_of:
            found.stranded.append((cid, contact))
            if bridge_of[cid]["id"] not in found.stale_bridges:
                found.stale_bridges.append(bridge_of[cid]["id"])
        else:
            found.restart.append((channel, contact))
    for contact in by_channel.values():
        if contact.asterisk_channel not in live:
            found.gone.append(contact)
    return found


def held_callers(
    bridges: Iterable[AriEvent],
    by_channel: dict[str, Contact],
    bridge_of: dict[str, AriEvent],
) -> dict[str, Conversation]:
    """Conversations whose caller was on hold: by bridge id. A `talk-<leg>` bridge
    holds no caller, its caller (`<caller>-agent-<hex>` names it) is in no bridge, and
    the agent's leg is still in it (`<leg>`; after a completed consultation the
    colleague's leg, alone there). Other members (a consulted party) are not the
    agent's."""
    found: dict[str, Conversation] = {}
    for bridge in bridges:
        bid = str(bridge.get("id", ""))
        members = list(bridge.get("channels", []))
        if not bid.startswith(TALK) or not members or any(ch in by_channel for ch in members):
            continue
        leg = bid[len(TALK) :]
        caller = leg.split("-agent-", 1)[0]
        if caller == leg or caller not in by_channel or caller in bridge_of:
            continue
        agent = leg if leg in members else members[0] if len(members) == 1 else None
        if agent is not None:
            found[bid] = Conversation(caller, agent, bid, by_channel[caller], held=True)
    return found


@dataclass(frozen=True)
class RecoveryReport:
    """What a pass did: counts, and seconds from start to every call taken over."""

    waiting: int
    talking: int
    restarted: int
    orphans: int
    lost: int
    seconds: float
    first: bool


class Recovery:
    """Runs a recovery pass on every ARI connection (see the module docstring)."""

    def __init__(
        self,
        stasis: StasisApp,
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stasis = stasis
        self.runtime = stasis.runtime
        self.ari = stasis.ari
        self.wall = wall
        self.clock = clock
        self.passes = 0
        self.given_up = 0  # callers of this pass that could not be carried on
        self.last: RecoveryReport | None = None

    @property
    def store(self) -> Store:
        return self.runtime.store

    async def run(self) -> RecoveryReport:
        started = time.monotonic()
        first = self.passes == 0
        self.passes += 1
        self.given_up = 0
        channels: list[AriEvent] = await self.ari.channels()
        bridges: list[AriEvent] = await self.ari.bridges()
        contacts = await active_contacts(self.store, "voice")
        others = [c.asterisk_channel for c in await active_contacts(self.store, "callback")]
        found = survey(
            self.ari.app,
            channels,
            bridges,
            contacts,
            self.stasis.owns,
            self.stasis.contact_ids,
            [ch for ch in others if ch],
        )
        reason = "controller_restart" if first else "asterisk_restart"
        for cid in found.orphans:
            log.warning("recovery: hanging up channel %s: no active contact of ours", cid)
            with contextlib.suppress(AriError):
                await self.ari.hangup(cid)
        for contact in found.gone:
            await self._close(contact, reason)
        for cid, contact in found.stranded:
            log.warning("recovery: channel %s cannot be carried on: hung up", cid)
            with contextlib.suppress(AriError):
                await self.ari.hangup(cid)
            await self._close(contact, reason, hung_up_by="hotline")
        for bridge in found.stale_bridges:
            with contextlib.suppress(AriError):
                await self.ari.request("DELETE", f"bridges/{bridge}")
        taken = await self._take_over(found, reason)
        for channel, contact in found.restart:
            await self._close(contact, reason)
            self.stasis.restart_call(channel)
        report = RecoveryReport(
            waiting=taken[0],
            talking=taken[1],
            restarted=len(found.restart),
            orphans=len(found.orphans) + len(found.stranded),
            lost=len(found.gone) + len(found.stranded) + self.given_up,
            seconds=round(time.monotonic() - started, 3),
            first=first,
        )
        self.last = report
        if first or any((report.waiting, report.talking, report.restarted, report.orphans)):
            log.info("recovery: %s", report)
        await self.store.append(None, "controller.recovered", asdict(report))
        return report

    async def _take_over(self, found: Survey, reason: str) -> tuple[int, int]:
        queueing = self.stasis.queueing
        now_wall, now = self.wall(), self.clock()
        places: dict[str, Place] = {}
        events: dict[str, list[Any]] = {}
        everyone: list[Waiting | Conversation] = [*found.waiting, *found.talking]
        for item in everyone:
            events[item.contact.id] = await self.store.events(item.contact.id)
            place = place_of(item.contact.id, events[item.contact.id])
            if place is not None:
                places[item.contact.id] = place
        waiting: list[Waiting] = []
        contacts: list[RoutingContact] = []
        for item in found.waiting:
            place = places.get(item.contact.id)
            # Still on hold though answered: the agent's leg never reached it (it is an
            # orphan now); the caller goes back to its place all the same.
            if queueing is None or place is None:
                await self._give_up(item.channel, item.contact, reason, "no place in a queue")
                continue
            waiting.append(item)
            contacts.append(place.contact(clock_of(place.entered, now_wall, now)))
        talking: list[Talking] = []
        for talk in found.talking:
            place = places.get(talk.contact.id)
            if talk.leg is None:
                continue
            if talk.with_agent and place is not None and place.agent and place.answered:
                entered = clock_of(place.entered, now_wall, now)
                since = clock_of(place.answered, now_wall, now)
                talking.append(Talking(place.agent, place.contact(entered), since))
        tickets: dict[str, Ticket] = {}
        refused: dict[str, str] = {}
        if queueing is not None and (contacts or talking):
            tickets, refused = await queueing.routing.restore(contacts, talking)
            for cid, why in refused.items():
                log.warning("recovery: contact %s not restored in routing: %s", cid, why)
        for item in waiting:
            ticket = tickets.get(item.contact.id)
            if ticket is None or queueing is None:
                await self._give_up(item.channel, item.contact, reason, "refused by routing")
                continue
            queueing.bridges.adopt(item.bridge, {item.channel})
            logged = events[item.contact.id]
            self._resume_waiting(item, ticket, logged, language(logged, self.runtime))
        for talk in found.talking:
            logged = events[talk.contact.id]
            place = places.get(talk.contact.id)
            if talk.contact.id in refused:  # routing does not know the agent: talk on anyway
                place = None
            self._resume_talking(talk, place, logged, language(logged, self.runtime))
        return len(tickets), len(found.talking)

    def _contact_call(self, contact: Contact, channel: str) -> ContactCall:
        return ContactCall(
            self.runtime,
            channel_id=channel,
            caller=contact.source,
            dialed=contact.destination,
            via="ari",
            errors=(AriError,),
        )

    def _resume_waiting(self, item: Waiting, ticket: Ticket, events: list[Any], lang: str) -> None:
        queueing = self.stasis.queueing
        assert queueing is not None
        call = self._contact_call(item.contact, item.channel)
        entered = ticket.contact.entered_at

        async def work(port: VoicePort) -> None:
            port.caller_id = caller_id(None, item.contact.source)

            async def rest() -> None:
                queue = VoiceQueue(queueing, port, item.contact.id, call.run)
                outcome = await queue.resume(ticket, item.bridge, lang, entered)
                await farewell(port, outcome, lang)

            call.adopt(item.contact.id)
            carry_over(call.run, events)
            await call.resume(port, rest)

        log.info("recovery: %s waits on in %s", item.contact.id, ticket.queue)
        self.stasis.take_over(item.channel, call.emit, work)

    def _resume_talking(
        self, talk: Conversation, place: Place | None, events: list[Any], lang: str
    ) -> None:
        queueing = self.stasis.queueing
        call = self._contact_call(talk.contact, talk.channel)
        recording = live_recording(events)
        since = self.clock()
        if place is not None and place.answered is not None:
            since = clock_of(place.answered, self.wall(), self.clock())

        async def work(port: VoicePort) -> None:
            async def rest() -> None:
                agent = place.agent if place is not None and talk.with_agent else None
                if talk.leg is None:  # the agent (or target) hung up meanwhile
                    if queueing is not None and agent and place is not None:
                        conversation = queueing.conversation(port, talk.contact.id)
                        await conversation.ended_unseen(agent, place.queue, talk.bridge, recording)
                    else:
                        port.transferred = not talk.with_agent
                        await port.leave_bridge(talk.bridge)  # before the farewell
                        await clean_up(self.ari, None, talk.bridge)
                elif queueing is not None and agent and place is not None:
                    if talk.held:
                        await self._bring_back(talk, port, agent, events)
                    conversation = queueing.conversation(port, talk.contact.id)
                    await conversation.resume(
                        agent, place.queue, talk.leg, talk.bridge, recording, since
                    )
                else:  # a transfer target (or an agent routing no longer knows)
                    port.transferred = not talk.with_agent
                    port.follow(talk.leg, True)
                    try:
                        await port.until_gone(talk.leg)
                    finally:
                        if not port.gone:  # the farewell follows: out of the bridge first
                            await port.leave_bridge(talk.bridge)
                        await clean_up(self.ari, talk.leg, talk.bridge)
                        port.follow(talk.leg, False)
                await farewell(port, "answered", lang)

            call.adopt(talk.contact.id)
            carry_over(call.run, events)
            await call.resume(port, rest)

        log.info("recovery: %s talks on in %s", talk.contact.id, talk.bridge)
        self.stasis.take_over(talk.channel, call.emit, work, [talk.leg] if talk.leg else [])

    async def _bring_back(
        self, talk: Conversation, port: VoicePort, agent: str, events: list[Any]
    ) -> None:
        """The caller on hold goes back to their agent (the module docstring); the
        consultation and the hold that were open in the log are ended there."""
        assert talk.leg is not None
        with contextlib.suppress(AriError):  # the ringback of a consultation still ringing
            await self.ari.stop_playback(ringback_of(talk.leg))
        await port.guarded(self.ari.request("DELETE", f"channels/{talk.channel}/moh"))
        await port.guarded(
            self.ari.request(
                "POST", f"bridges/{talk.bridge}/addChannel", params={"channel": talk.channel}
            )
        )
        now = self.wall()
        consulting, hold, total = open_consultation_and_hold(events)
        if consulting is not None:
            await port.emit(
                "call.consult_ended",
                {
                    "agent": agent,
                    "to": str(consulting.data.get("to", "")),
                    "outcome": "failed",
                    "by": "controller_restart",
                    "seconds": round((now - consulting.ts).total_seconds(), 1),
                },
            )
        if hold is not None:
            length = (now - hold.ts).total_seconds()
            await port.emit(
                "call.resumed",
                {
                    "agent": agent,
                    "by": BY,
                    "hold_seconds": round(length, 1),
                    "total_hold_seconds": round(total + length, 1),
                    "ended": False,
                },
            )
        log.info("recovery: %s on hold: back with %s", talk.contact.id, agent)

    async def _give_up(self, channel: str, contact: Contact, reason: str, why: str) -> None:
        log.warning("recovery: contact %s on %s: %s; hung up", contact.id, channel, why)
        self.given_up += 1
        with contextlib.suppress(AriError):
            await self.ari.hangup(channel)
        await self._close(contact, reason, hung_up_by="hotline")

    async def _close(self, contact: Contact, reason: str, hung_up_by: str = "asterisk") -> None:
        """End a contact we cannot carry on: status lost, with why."""
        await self.store.end_contact(
            contact.id,
            "lost",
            "call.ended",
            {"status": "lost", "reason": reason, "hung_up_by": hung_up_by},
        )
        log.info("recovery: contact %s ended lost (%s)", contact.id, reason)


async def farewell(port: VoicePort, outcome: str, lang: str) -> None:
    """What the caller hears before a taken-over call ends."""
    key = "agents_unavailable" if outcome in UNSERVED else "goodbye"
    await port.play([Prompt(key=key)], language=lang, barge_in=False)


def language(events: Iterable[Any], runtime: Any) -> str:
    """The contact's language: the flow's last `flow.language`, else the default."""
    chosen = runtime.default_language
    for event in events:
        if event.type == "flow.language":
            chosen = event.data.get("language") or chosen
    return str(chosen)


def carry_over(run: ContactRun, events: Iterable[Any]) -> None:
    """What the contact's log says happened before the restart, handed to its run:
    an agent had answered, a callback was booked."""
    for event in events:
        if event.type == "queue.connected":
            run.agent_answered = True
        elif event.type in ("queue.callback", "flow.callback"):
            run.callback_booked = True


def open_consultation_and_hold(events: Iterable[Any]) -> tuple[Any | None, Any | None, float]:
    """The `call.consult_started` and `call.held` events the log leaves open (not ended
    by `call.consult_ended` / `call.transferred`, `call.resumed`), and the hold time
    already resumed (`total_hold_seconds` of the last `call.resumed`)."""
    consulting = held = None
    total = 0.0
    for event in events:
        if event.type == "call.consult_started":
            consulting = event
        elif event.type in ("call.consult_ended", "call.transferred"):
            consulting = None
        elif event.type == "call.held":
            held = event
        elif event.type == "call.resumed":
            held = None
            total = float(event.data.get("total_hold_seconds") or 0.0)
        elif event.type == "queue.connected":  # a colleague's call: holds of their own
            total = 0.0
    return consulting, held, total


def live_recording(events: Iterable[Any]) -> str | None:
    """The conversation recording started and not yet saved, if any."""
    names: dict[str, bool] = {}
    for event in events:
        if event.type == "recording.started":
            names[event.data.get("name", "")] = True
        elif event.type == "recording.saved":
            names.pop(event.data.get("name", ""), None)
    running = [name for name in names if name]
    return running[-1] if running else None
