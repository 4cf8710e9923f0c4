"""A queued caller's conversation with the agent who answered.

Caller and agent talk in a mixing bridge (recorded when the queue says so). The agent
hanging up first lets the flow go on from the queue node's `answered` (a survey, a
goodbye); the caller hanging up ends the flow. Either way the agent goes to wrap-up
and no channel or bridge is left behind. While they talk, the call is under call
control (`call_control.py`: hold and resume from the desk or the REST API).

A blind transfer (the desk, the REST API, the agent's phone: a REFER or `*2...#`) ends
the agent's part first: `queue.call_ended` (ended_by transfer), the agent's leg hung
up, the agent to wrap-up, then `call.transferred` with the note. Then the caller:

- to a number: rings it and talks with it (`VoicePort.transfer`);
- to a queue: the same contact (its id, flow variables, customer, the note) waits
  again with that queue's full waiting experience and under its rules (join_empty,
  leave_when_empty, max wait, the flow's outcome), at the queue's `transfer_priority`;
- to an agent: offered to that agent only, hearing the call's queue music while their
  phone rings; they answer and talk with the caller, a conversation like this one.
  If they decline, do not answer, or took another call meanwhile, the caller goes
  back to the queue they were answered from, at the place they had there (their first
  entry time, so in practice the front), with that queue's transfer priority. Not
  back to the transferring agent: they are in wrap-up or on their next call, and
  waiting for one person is what the caller was just failed by; the queue offers the
  caller to whoever is free first, that agent included.

The queue node's outcome is that of the caller's last wait: answered once an agent
talked with them, or the outcome of the last queue (closed, timeout, left, ...).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ari_app.call_control import (
    TRANSFER_EVENT,
    TRANSFER_RING_SECONDS,
    AriCallControl,
    BlindTransfer,
)
from ari_app.client import AriError, AriEvent
from ari_app.consultation import Consultation
from ari_app.events import GONE_EVENTS, channel_of
from ari_app.legs import ChannelsGone, clean_up, connect
from ari_app.live_transcript import LiveTranscript, live_transcript
from ari_app.recording import ConversationRecorder
from ari_app.voice_port import VoicePort
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService
from hotline.calls import CallControlError, Command, Conflict, Target, parse_command
from hotline.calls.keys import FeatureKeys
from hotline.flows.port import CallerGone

#: On an agent's leg under call control: a REFER from their phone is reported to Hotline
#: (ChannelTransfer), not carried out by Asterisk on its own.
REFER_TO_US = {"PJSIP_TRANSFER_HANDLING()": "ari-only"}

log = logging.getLogger(__name__)


class Requeue(Protocol):
    """Puts the transferred caller in a queue again (ari_app/queueing.py's
    `VoiceQueue.transferred_in`): the wait's outcome; RoutingError if refused."""

    async def __call__(
        self, queue: str, *, agent: str | None = None, keep_place: bool = False
    ) -> str: ...


class AgentConversation:
    """One call's conversation with an agent (see the module docstring)."""

    def __init__(
        self,
        port: VoicePort,
        routing: RoutingService,
        recorder: ConversationRecorder,
        contact_id: str,
        calls: AriCallControl | None = None,
        requeue: Requeue | None = None,
    ) -> None:
        self.port = port
        self.routing = routing
        self.recorder = recorder
        self.contact_id = contact_id
        #: Call control of the live conversation (None: none).
        self.calls = calls
        #: How a transfer to an agent or a queue waits again (None: numbers only).
        self.requeue = requeue
        #: Told once caller and agent are in the conversation's bridge (the caller's
        #: holding bridge can go then, off the way to the conversation).
        self.connected: Callable[[], None] | None = None
        #: The caller's language (a recording notice played later is in it).
        self.language = ""

    async def talk(
        self, agent: str, queue: str, leg: str, *, record: bool, referring: bool = False
    ) -> str:
        """The agent answered on `leg`: connect them with the caller and talk.
        `referring`: the leg was rung with `REFER_TO_US` set (no request to set it)."""
        return await self._talk(
            agent, queue, leg, f"talk-{leg}", None, time.monotonic(), record, referring=referring
        )

    async def resume(
        self, agent: str, queue: str, leg: str, bridge: str, recording: str | None, since: float
    ) -> str:
        """A conversation a previous controller connected (ari_app/recovery.py), with
        its recording if one runs: until either side hangs up, then as any other."""
        self.port.follow(leg, True)
        if recording is not None:
            self.recorder.adopt(recording)
        return await self._talk(agent, queue, leg, bridge, recording, since, False, resumed=True)

    async def ended_unseen(
        self, agent: str, queue: str, bridge: str, recording: str | None
    ) -> None:
        """A conversation whose agent hung up while no controller ran (recovery): store
        its recording, remove its bridge and log its end as `talk` would."""
        if recording is not None:
            await self.recorder.save(recording, agent, queue)
        await self.port.leave_bridge(bridge)  # the caller goes on in the flow
        await clean_up(self.port.ari, None, bridge)
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
        record: bool,
        *,
        resumed: bool = False,
        referring: bool = False,
        finish: Callable[[str], Awaitable[None]] | None = None,
    ) -> str:
        """Talk in `bridge`: made here, unless `resumed` (it is already up). `finish`:
        the agent's routing ends so (given who ended it), not by finishing this contact."""
        ended_by = "caller"
        transfer: BlindTransfer | None = None
        handover: Consultation | None = None  # the caller goes on with a consulted party
        leg_gone = False  # Asterisk said the agent's leg is gone: no hang-up to ask for
        live: LiveTranscript | None = None  # the caller's words for the agent's desk
        try:
            if not resumed:
                try:
                    await self.port.guarded(
                        connect(
                            self.port.ari,
                            bridge,
                            self.port.channel_id,
                            leg,
                            dtmf=self.calls is not None,
                        )
                    )
                except ChannelsGone as gone:
                    if self.port.channel_id in gone.channels:
                        self.port.gone = True
                        raise CallerGone() from None
                    # The agent hung up as soon as they answered: a conversation of
                    # nothing, over (the caller's flow goes on), not a flow error.
                    ended_by = "agent"
                    return "answered"
                if self.connected is not None:
                    self.connected()
            if record:
                recording = await self.recorder.start(bridge, agent)
            live = await live_transcript(self.port.speech, queue, self.language, self.port.emit)
            if self.calls is not None:
                if not referring:
                    await self._refer_to_us(leg)
                self.calls.open(
                    self.contact_id,
                    agent,
                    queue,
                    self.port.channel_id,
                    leg,
                    bridge,
                    self.port.emit if live is None else live.watch(self.port.emit),
                    self.port.deliver,
                    routable=self.requeue is not None,
                    follow=self.port.follow,
                )
            over = await self._until_over(leg, agent)
            leg_gone = over is None
            if isinstance(over, Consultation):
                handover = over
            else:
                transfer = over
            ended_by = "agent" if over is None else "transfer"
        finally:
            # No command acts on the call from here; a hold in progress ends.
            held = None if self.calls is None else await self.calls.close(self.contact_id, ended_by)
            if live is not None:  # its snoop, bridge and media channel go first
                await live.stop()
            if recording is not None:
                await self.recorder.save(recording, agent, queue)
            # A consultation keeps what still talks (consultation.py): the bridge for
            # the caller handed over to the party; the agent's leg with the party.
            kept = self.calls is not None and self.calls.keeps(leg)
            destroy = None if kept or handover else bridge
            if not self.port.gone and (transfer is not None or not (kept or handover)):
                # The caller goes on (the flow's next prompt, a transfer): out of the
                # bridge before it is destroyed (VoicePort.leave_bridge), else a prompt
                # played at once can be queued to a bridge channel that is leaving,
                # and Asterisk never plays it nor says it finished. After the agent
                # hung up, what the flow does next is not known here: on a port that
                # allows it the caller stays in the bridge until the port next acts
                # (VoicePort.settle), so a call that ends there is hung up in it.
                if transfer is None and self.port.lazy_leave:
                    self.port.left_in, destroy = bridge, None
                else:
                    await self.port.leave_bridge(bridge)
            await clean_up(self.port.ari, None if kept or leg_gone else leg, destroy)
            self.port.follow(leg, False)
            if finish is not None:
                await finish(ended_by)
            else:
                await self.routing.finished(agent, self.contact_id)
            ended: dict[str, Any] = {
                "agent": agent,
                "ended_by": ended_by,
                "talk_seconds": round(time.monotonic() - started, 1),
            }
            if held is not None:
                ended["hold_seconds"] = held
            await self.port.emit("queue.call_ended", ended)
        if transfer is not None:
            return await self._blind_transfer(agent, queue, transfer)
        if handover is not None and await handover.take_over(
            self.port, adopt=self.calls is not None
        ):
            return await self._handed_to(handover, queue)
        return "answered"

    async def _handed_to(self, consultation: Consultation, queue: str) -> str:
        """A consultation completed with an agent (or the consulting agent hung up once
        they answered): the caller's call is theirs, a conversation like this one (call
        control, `queue.call_ended` with them). Their routing offer is the consult
        contact's: its end is their one wrap-up (`Consultation.adopted_ended`)."""
        party, leg = consultation.party, consultation.leg
        assert leg is not None
        # The colleague took the caller through their offer's queue (a queue consulted:
        # that queue; a colleague: the caller's): the call is that queue's now, recorded
        # by its policy, the caller told first when their own queue did not record.
        theirs = queue if consultation.offer is None else consultation.offer.queue
        record = self._records(theirs)
        bridge = consultation.call.bridge
        if record and not self._records(queue):
            await self.recorder.announce(bridge, self.language)
        await self.port.emit("queue.connected", {"agent": party, "queue": theirs, "waited": 0.0})
        return await self._talk(
            party,
            theirs,
            leg,
            bridge,
            None,
            time.monotonic(),
            record,
            resumed=True,
            finish=consultation.adopted_ended,
        )

    def _records(self, queue: str) -> bool:
        """Whether `queue`'s policy records its conversations."""
        settings = None if self.calls is None else self.calls.settings.get(queue)
        return settings is not None and settings.recording == "on"

    async def _until_over(self, leg: str, agent: str) -> BlindTransfer | Consultation | None:
        """Until the agent hangs up (None, or the consultation the caller goes on with),
        a blind transfer is asked for (it), a consultation is completed (it), or the
        caller hangs up (CallerGone). The agent's keys meanwhile are feature codes."""
        keys = FeatureKeys()
        while True:
            event = await self.port.next_event(None)
            if event is None:
                continue
            if event["type"] == TRANSFER_EVENT:
                transfer: BlindTransfer = event["transfer"]
                return transfer
            if self.calls is not None:  # a consulted party's leg, or a completion
                handover = await self.calls.consult_event(self.contact_id, event)
                if handover is not None:
                    return handover
            if channel_of(event) != leg:
                continue
            if event["type"] in GONE_EVENTS:
                return None if self.calls is None else await self.calls.agent_left(self.contact_id)
            # (One with a `state` is Asterisk's echo of the progress we reported.)
            if event["type"] == "ChannelTransfer" and not event.get("state"):
                await self._refer(agent, leg, event)
            if event["type"] == "ChannelDtmfReceived":
                await self._feature_key(agent, keys, str(event.get("digit", "")))

    async def _refer_to_us(self, leg: str) -> None:
        """A REFER from the agent's phone is reported to Hotline (ChannelTransfer), not
        carried out by Asterisk on its own."""
        with contextlib.suppress(AriError):
            for name, value in REFER_TO_US.items():
                await self.port.ari.set_variable(leg, name, value)

    async def _refer(self, agent: str, leg: str, event: AriEvent) -> None:
        """The agent's phone sent a REFER (its transfer button): a blind transfer to
        what it names (`AriCallControl.phone_target`: a colleague, a queue, a number), as
        the REST API's; an attended one (with Replaces, naming the phone's second call:
        a consultation of this call from the phone) completes that consultation. The
        phone is told how it went (a NOTIFY: 200, or 603 declined: the calls stay as
        they were) and `call.refer` logged."""
        refer_to = event.get("refer_to", {})
        requested = refer_to.get("requested_destination", {})
        destination = str(requested.get("destination", ""))
        outcome: dict[str, Any] = {"agent": agent, "to": destination}
        # With Replaces (the phone's attended transfer) Asterisk names the other call
        # (its SIP Call-ID, and its channel when it knows it).
        other = refer_to.get("destination_channel") or {}
        try:
            if self.calls is None:
                raise Conflict("this call is not under call control")
            if other or requested.get("protocol_id"):
                outcome["attended"] = True
                if not other.get("id"):
                    raise Conflict(
                        "the phone's other call is not one Hotline has: call the colleague "
                        "from the phone while talking, or consult from the desk"
                    )
                await self.calls.complete_from_phone(self.contact_id, agent, str(other["id"]))
            else:
                target = self.calls.phone_target(destination)
                command = parse_command("transfer", {"to": str(target)})
                await self.calls.act(self.contact_id, command, by_agent=agent, by=agent)
            progress = "channel_answered"
        except CallControlError as refused:
            outcome["refused"] = str(refused)
            progress = "channel_declined"
        with contextlib.suppress(AriError):
            await self.port.ari.request(
                "POST", f"channels/{leg}/transfer_progress", params={"states": progress}
            )
        await self.port.emit("call.refer", outcome)

    async def _feature_key(self, agent: str, keys: FeatureKeys, digit: str) -> None:
        """A key the agent pressed while talking (hotline/calls/keys.py): a complete
        feature code is carried out as the desk's button would be, and logged."""
        state = None if self.calls is None else self.calls.state(self.contact_id)
        typed = keys.pending + digit
        # Each key of a feature code is logged: when a code is not carried out, the log
        # says which keys arrived and what became of them.
        coding = bool(keys.pending) or digit == "*"
        if self.calls is None or state is None:
            if coding:
                log.info(
                    "contact=%s key %r from %s dropped: no call control",
                    self.contact_id,
                    digit,
                    agent,
                )
            return
        if coding:
            log.info("contact=%s feature keys %r from %s", self.contact_id, typed, agent)
        try:
            command = keys.press(digit, held=state.held)
            if command is None:
                return
            command = self._on_phone(command)
            await self.calls.act(self.contact_id, command, by_agent=agent, by=agent)
        except CallControlError as refused:
            log.info("contact=%s feature code %s refused: %s", self.contact_id, typed, refused)
            await self.port.emit(
                "call.feature", {"agent": agent, "keys": typed, "refused": str(refused)}
            )
            return
        await self.port.emit("call.feature", {"agent": agent, "keys": typed})

    def _on_phone(self, command: Command) -> Command:
        """`*2<digits>#`: the digits of an agent's extension name that agent."""
        target = command.target
        if self.calls is None or target is None or target.kind != "number":
            return command
        named = self.calls.phone_target(target.value)
        if named.kind == "number":
            return command
        return Command(command.action, named, command.note)

    async def _blind_transfer(self, agent: str, queue: str, transfer: BlindTransfer) -> str:
        """The agent is gone (to wrap-up): the caller goes where the transfer says (the
        module docstring), until that ends; the queue node's outcome. CallerGone if
        the caller hangs up meanwhile."""
        target = transfer.target
        await self.port.emit(
            "call.transferred",
            {
                "agent": agent,
                "to": str(target),
                "kind": "blind",
                "note": transfer.note,
                "by": transfer.by,
            },
        )
        if transfer.endpoint is not None:
            await self.port.transfer(
                str(target), timeout=TRANSFER_RING_SECONDS, endpoint=transfer.endpoint
            )
            return "answered"
        if self.requeue is None:  # call control refuses these: never here, but not lost
            await self.port.emit(
                "transfer.failed", {"target": str(target), "reason": "no queue to wait in"}
            )
            return "answered"
        if target.kind == "queue":
            return await self.requeue(target.value)
        return await self._to_agent(target, queue)

    async def _to_agent(self, target: Target, queue: str) -> str:
        """Offered to the agent alone; unanswered, back to `queue` at the caller's place."""
        assert self.requeue is not None
        try:
            outcome = await self.requeue(queue, agent=target.value)
        except RoutingError as refused:  # they took another contact since the check
            outcome, why = "refused", str(refused)
        else:
            if outcome == "answered":
                return outcome
            why = f"{target.value} did not take the call ({outcome})"
        await self.port.emit(
            "transfer.ended",
            {"target": str(target), "outcome": outcome, "reason": why, "back_to": queue},
        )
        return await self.requeue(queue, keep_place=True)
