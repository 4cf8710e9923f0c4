"""Consultation and conference (ari_app/consultation.py) through the call control, on an
in-memory ARI: what each command asks of Asterisk, what is logged, the call's state,
every leg's end, and refusals that leave the call as it was."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ari_app.call_control import TRANSFER_EVENT, AriCallControl
from ari_app.client import AriError, AriEvent, AriNotFound
from ari_app.consultation import HANDOVER_EVENT, Consultation
from hotline.acd import Queue
from hotline.acd.model import Channel
from hotline.acd.settings import QueueSettings
from hotline.callbacks.settings import CallbackConfig
from hotline.calls import BadCommand, Command, Conflict, NotFound, NotYours, Target, parse_command
from hotline.flows.port import CallerGone
from tests.unit.voice.fake_ari import FakeAri, Followed, channel_event, log_in, routing
from tests.unit.voice.test_transfers import CALLER, Desk
from tests.unit.voice.test_voice_queue import eventually


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Contacts:
    """Consult contacts, in memory."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, str]] = []
        self.closed: dict[str, str] = {}

    async def open(self, agent: str, target: str, about: str) -> str:
        assert about == "c1"
        self.opened.append((agent, target))
        return f"k{len(self.opened)}"

    async def close(self, contact_id: str, status: str) -> None:
        self.closed[contact_id] = status


class Rig:
    def __init__(self, *, with_routing: bool = False) -> None:
        self.ari, self.clock = FakeAri(), Clock()
        self.logged: list[tuple[str, dict[str, Any]]] = []
        self.inbox: list[AriEvent] = []
        self.followed = Followed()
        self.contacts = Contacts()
        self.routing, self.routing_log = routing("alice", "bob", queue=Queue("support"))
        self.control = AriCallControl(
            self.ari,
            {"support": QueueSettings(music_on_hold="jazz")},
            agents=["alice", "bob", "carl"],
            dialing=CallbackConfig(dial_template="PJSIP/{number}@trunk", allowed_prefixes=["555"]),
            own_numbers=("5550100",),
            now=self.clock,
            routing=self.routing if with_routing else None,
            endpoints={"alice": "2001", "bob": "2002"},
            consult_contacts=self.contacts if with_routing else None,
        )

        async def emit(kind: str, data: dict[str, Any]) -> None:
            self.logged.append((kind, data))

        self.control.open(
            "c1",
            "alice",
            "support",
            "caller-1",
            "leg-1",
            "talk-leg-1",
            emit,
            self.inbox.append,
            follow=self.followed,
        )

    async def act(self, action: str, to: str | None = None, by: str = "alice") -> Any:
        target = None
        if to is not None:
            kind, _, value = to.partition(":")
            target = Target(kind, value)  # type: ignore[arg-type]
        return await self.control.act("c1", Command(action, target), by_agent=by)  # type: ignore[arg-type]

    async def event(self, kind: str, channel: str, **data: Any) -> Consultation | None:
        return await self.control.consult_event(
            "c1", {"type": kind, "channel": {"id": channel}, **data}
        )

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.logged]

    def last(self, kind: str) -> dict[str, Any]:
        return [data for k, data in self.logged if k == kind][-1]

    @property
    def consultation(self) -> Consultation:
        call = self.control.calls["c1"]
        assert call.consultation is not None
        return call.consultation

    @property
    def party(self) -> str:
        leg = self.consultation.leg
        assert leg is not None
        return leg

    async def talking(self, to: str = "number:5557801") -> str:
        """Consult `to` and have it answer; the party's leg."""
        await self.act("consult", to)
        await self.event("StasisStart", self.party)
        return self.party


@pytest.fixture
def rig() -> Rig:
    return Rig()


async def test_consult_a_number_holds_the_caller_rings_then_talks(rig: Rig) -> None:
    state = await rig.act("consult", "number:5557801")
    assert state.held and state.consult is not None
    assert (state.consult.to, state.consult.state, state.consult.party) == (
        "number:5557801",
        "ringing",
        "",
    )
    # The caller on hold, as hold does: out of the bridge, the queue's music.
    (left,) = rig.ari.made("POST", "bridges/talk-leg-1/removeChannel")
    assert left.param("channel") == "caller-1"
    assert rig.ari.made("POST", "channels/caller-1/moh")[0].param("mohClass") == "jazz"
    # The number through the dial template, its events followed; the agent hears ringback.
    (ring,) = rig.ari.originated()
    assert ring.param("endpoint") == "PJSIP/5557801@trunk"
    assert ring.param("originator") == "leg-1"
    assert rig.party.startswith("caller-1-consult-") and rig.followed.legs == {rig.party: True}
    assert rig.ari.played("leg-1") == [["tone:ring"]]
    assert rig.kinds() == ["call.held", "call.consult_started"]
    assert rig.last("call.consult_started") == {
        "agent": "alice",
        "to": "number:5557801",
        "by": "alice",
        "note": "",
    }

    assert await rig.event("StasisStart", rig.party) is None
    (joined,) = rig.ari.made("POST", "bridges/talk-leg-1/addChannel")
    assert joined.param("channel") == rig.party
    assert rig.ari.made("DELETE", "playbacks/")  # ringback stopped
    assert rig.last("call.consult_answered") == {
        "agent": "alice",
        "to": "number:5557801",
        "party": "5557801",
    }
    state = rig.control.state("c1")
    assert state is not None and state.consult is not None
    assert (state.consult.state, state.consult.party, state.held) == ("talking", "5557801", True)


async def test_cancel_hangs_up_the_party_and_brings_the_caller_back(rig: Rig) -> None:
    party = await rig.talking()
    rig.clock.t += 12
    state = await rig.act("cancel")
    assert state.consult is None and not state.held
    assert party in rig.ari.hung_up() and rig.followed.legs == {}
    assert rig.ari.made("DELETE", "channels/caller-1/moh")
    assert [r.param("channel") for r in rig.ari.made("POST", "bridges/talk-leg-1/addChannel")] == [
        party,
        "caller-1",
    ]
    ended = rig.last("call.consult_ended")
    assert ended == {
        "agent": "alice",
        "to": "number:5557801",
        "outcome": "cancelled",
        "by": "alice",
        "seconds": 12.0,
    }
    assert rig.last("call.resumed")["hold_seconds"] == 12.0
    # Its leg's end, arriving later, changes nothing; a new consultation may start.
    await rig.event("ChannelDestroyed", party, cause=16)
    assert rig.kinds().count("call.consult_ended") == 1
    state = await rig.act("consult", "number:5557802")
    assert state.consult is not None and state.consult.to == "number:5557802"


async def test_cancel_while_ringing_stops_the_ring(rig: Rig) -> None:
    await rig.act("consult", "number:5557801")
    party = rig.party
    state = await rig.act("cancel")
    assert state.consult is None and not state.held
    assert party in rig.ari.hung_up()
    assert rig.last("call.consult_ended")["outcome"] == "cancelled"
    assert "call.consult_answered" not in rig.kinds()


async def test_conference_then_the_party_leaves(rig: Rig) -> None:
    party = await rig.talking()
    rig.clock.t += 5
    state = await rig.act("conference")
    assert state.conference and not state.held and state.consult is not None
    assert rig.ari.made("POST", "bridges/talk-leg-1/addChannel")[-1].param("channel") == "caller-1"
    assert rig.last("call.consult_ended")["outcome"] == "conference"
    assert rig.last("call.conference_started") == {
        "agent": "alice",
        "to": "number:5557801",
        "party": "5557801",
        "by": "alice",
    }
    for action, says in [
        ("hold", "is in a conference with 5557801"),
        ("conference", "already in a conference"),
        ("cancel", "is in a conference"),
    ]:
        with pytest.raises(Conflict, match=says):
            await rig.act(action)
    rig.clock.t += 30
    await rig.event("StasisEnd", party)
    assert rig.last("call.conference_ended") == {"agent": "alice", "by": "party", "seconds": 30.0}
    state = rig.control.state("c1")
    assert state is not None and not state.conference and state.consult is None
    assert not state.held  # agent and caller go on talking
    await rig.act("hold")  # an ordinary call again


async def test_complete_hands_the_caller_over_to_the_conversation(rig: Rig) -> None:
    await rig.talking()
    await rig.act("complete", by="alice")
    assert rig.ari.made("POST", "bridges/talk-leg-1/addChannel")[-1].param("channel") == "caller-1"
    assert rig.last("call.consult_ended")["outcome"] == "completed"
    assert rig.last("call.transferred") == {
        "agent": "alice",
        "to": "number:5557801",
        "kind": "consult",
        "note": "",
        "by": "alice",
    }
    (handover,) = rig.inbox
    assert handover["type"] == HANDOVER_EVENT
    assert await rig.control.consult_event("c1", handover) is rig.consultation
    state = rig.control.state("c1")
    assert state is not None and state.consult is None  # handed over: nothing to control
    with pytest.raises(Conflict, match="no consultation to cancel"):
        await rig.act("cancel")


async def test_complete_from_a_conference_leaves_caller_and_party(rig: Rig) -> None:
    await rig.talking()
    await rig.act("conference")
    await rig.act("complete")
    assert rig.last("call.conference_ended")["by"] == "alice"
    assert rig.last("call.transferred")["kind"] == "consult"
    assert rig.inbox[-1]["type"] == HANDOVER_EVENT


@pytest.mark.parametrize(
    ("cause", "outcome", "by"),
    [(17, "unanswered", "busy"), (21, "unanswered", "busy"), (34, "failed", "failed")],
)
async def test_a_party_that_does_not_answer_leaves_the_caller_on_hold(
    rig: Rig, cause: int, outcome: str, by: str
) -> None:
    await rig.act("consult", "number:5557801")
    await rig.event("ChannelDestroyed", rig.party, cause=cause)
    ended = rig.last("call.consult_ended")
    assert (ended["outcome"], ended["by"]) == (outcome, by)
    state = rig.control.state("c1")
    assert state is not None and state.consult is None and state.held  # the agent resumes
    assert rig.ari.made("DELETE", "playbacks/")  # no more ringback
    await rig.act("resume")


async def test_a_number_that_rings_too_long_is_given_up(rig: Rig) -> None:
    consult = Consultation(
        rig.ari,
        rig.control.calls["c1"],
        Target("number", "5557801"),
        "",
        "alice",
        endpoint="PJSIP/5557801@trunk",
        ring_seconds=0.01,
    )
    await consult.start()
    await asyncio.sleep(0.05)
    assert consult.rang_out and consult.leg in rig.ari.hung_up()
    # Its end (hung up by us: cause 16) is logged as unanswered, not as a failure.
    await consult.on_event(
        {"type": "ChannelDestroyed", "channel": {"id": consult.leg}, "cause": 16}
    )
    ended = rig.last("call.consult_ended")
    assert (ended["outcome"], ended["by"]) == ("unanswered", "no_answer")


async def test_the_party_hangs_up_while_consulting(rig: Rig) -> None:
    party = await rig.talking()
    await rig.event("ChannelHangupRequest", party)
    ended = rig.last("call.consult_ended")
    assert (ended["outcome"], ended["by"]) == ("hung_up", "party")
    state = rig.control.state("c1")
    assert state is not None and state.held and state.consult is None


async def test_refusals_leave_the_call_as_it_was(rig: Rig) -> None:
    for action in ("complete", "conference", "cancel"):
        with pytest.raises(Conflict, match=f"contact c1 has no consultation to {action}"):
            await rig.act(action)
    with pytest.raises(BadCommand, match="cannot dial number:12"):
        await rig.act("consult", "number:12")
    with pytest.raises(BadCommand, match="cannot dial number:5550100"):
        await rig.act("consult", "number:5550100")  # the hotline's own number
    with pytest.raises(NotFound, match="no agent 'zed'"):
        await rig.act("consult", "agent:zed")
    with pytest.raises(NotFound, match="no queue 'nowhere'"):
        await rig.act("consult", "queue:nowhere")
    with pytest.raises(Conflict, match="alice cannot consult themselves"):
        await rig.act("consult", "agent:alice")
    with pytest.raises(Conflict, match="consulting agents is not available"):
        await rig.act("consult", "agent:bob")  # no routing given to this call control
    assert rig.ari.requests == [] and rig.logged == []

    await rig.act("consult", "number:5557801")
    before = (len(rig.ari.requests), len(rig.logged))
    for action, to, says in [
        ("consult", "number:5557802", "is already consulting number:5557801"),
        ("complete", None, "number:5557801 has not answered yet"),
        ("conference", None, "number:5557801 has not answered yet"),
        ("resume", None, "is consulting number:5557801"),
        ("hold", None, "is consulting number:5557801"),
        ("transfer", "number:5557802", "is consulting number:5557801"),
    ]:
        with pytest.raises(Conflict, match=says):
            await rig.act(action, to)
    assert (len(rig.ari.requests), len(rig.logged)) == before


async def test_no_consultation_during_a_blind_transfer(rig: Rig) -> None:
    await rig.act("transfer", "number:5557802")
    assert rig.inbox[-1]["type"] == TRANSFER_EVENT
    with pytest.raises(Conflict, match="is being transferred to number:5557802"):
        await rig.act("consult", "number:5557801")
    assert rig.ari.originated() == []


class NoDialing(FakeAri):
    """Asterisk refuses to originate (POST channels), and only that."""

    async def request(self, method: str, path: str, **kw: Any) -> Any:
        if (method, path) == ("POST", "channels"):
            raise AriError(400, "allocation failed")
        return await super().request(method, path, **kw)


async def test_a_call_that_cannot_be_dialed_is_put_back(rig: Rig) -> None:
    rig.ari = NoDialing()
    rig.control.ari = rig.ari
    with pytest.raises(Conflict, match=r"cannot call number:5557801: ARI 400: allocation failed"):
        await rig.act("consult", "number:5557801")
    state = rig.control.state("c1")
    assert state is not None and not state.held and state.consult is None
    assert rig.kinds() == ["call.held", "call.resumed"]  # back with the agent
    assert rig.followed.legs == {}


async def test_the_agent_hangs_up_mid_consult_the_caller_goes_to_the_party(rig: Rig) -> None:
    await rig.talking()
    consultation = await rig.control.agent_left("c1")
    assert consultation is rig.consultation and consultation.handed_over
    assert rig.last("call.transferred")["by"] == "agent"
    assert rig.last("call.consult_ended") == {
        "agent": "alice",
        "to": "number:5557801",
        "outcome": "completed",
        "by": "agent",
        "seconds": 0.0,
    }
    # The conversation ends the agent's part: the hold ends, nothing else is undone.
    await rig.control.close("c1", "transfer")
    assert rig.last("call.resumed")["ended"] is True
    assert not rig.control.keeps("leg-1")
    # Caller and party stay: nothing hung up, the bridge kept for them.
    assert consultation.leg not in rig.ari.hung_up() and not rig.ari.made("DELETE", "bridges/")


async def test_the_agent_hangs_up_while_it_rings_the_transfer_goes_blind(rig: Rig) -> None:
    await rig.act("consult", "number:5557801")
    consultation = await rig.control.agent_left("c1")
    assert consultation is not None and consultation.phase == "ringing"
    assert rig.last("call.transferred")["kind"] == "consult"
    assert "call.consult_ended" not in rig.kinds()  # it goes on ringing for the caller


async def test_the_agent_hanging_up_with_no_consultation_is_just_that(rig: Rig) -> None:
    assert await rig.control.agent_left("c1") is None
    await rig.act("consult", "number:5557801")
    await rig.act("cancel")
    assert await rig.control.agent_left("c1") is None


async def test_the_caller_hangs_up_while_consulting_agent_and_party_stay(rig: Rig) -> None:
    party = await rig.talking()
    await rig.control.close("c1", "caller")
    ended = rig.last("call.consult_ended")
    assert (ended["outcome"], ended["by"]) == ("hung_up", "caller")
    assert rig.control.keeps("leg-1") and not rig.control.keeps("leg-1")  # asked once
    assert party not in rig.ari.hung_up() and "leg-1" not in rig.ari.hung_up()
    # Then the party hangs up: the agent's leg and the bridge go too.
    rig.ari.failures[("GET", f"channels/{party}")] = AriNotFound(404, "gone")
    for _ in range(40):
        if "leg-1" in rig.ari.hung_up():
            break
        await asyncio.sleep(0.05)
    assert "leg-1" in rig.ari.hung_up() and party in rig.ari.hung_up()
    assert rig.ari.made("DELETE", "bridges/talk-leg-1")


async def test_the_caller_hangs_up_in_a_conference_it_ends_for_all(rig: Rig) -> None:
    party = await rig.talking()
    await rig.act("conference")
    await rig.control.close("c1", "caller")
    assert rig.last("call.conference_ended")["by"] == "caller"
    assert party in rig.ari.hung_up()
    assert not rig.control.keeps("leg-1")  # the conversation hangs up the agent


async def test_the_caller_hangs_up_while_it_rings(rig: Rig) -> None:
    await rig.act("consult", "number:5557801")
    party = rig.party
    await rig.control.close("c1", "caller")
    assert rig.last("call.consult_ended")["outcome"] == "hung_up"
    assert party in rig.ari.hung_up() and not rig.control.keeps("leg-1")


async def test_consult_an_agent_through_routing() -> None:
    rig = Rig(with_routing=True)
    await log_in(rig.routing, "alice", "bob")
    state = await rig.act("consult", "agent:bob")
    assert state.consult is not None and state.consult.state == "ringing"
    assert rig.contacts.opened == [("alice", "agent:bob")]
    for _ in range(20):  # the offer is rung by the consultation's own task
        if rig.ari.originated():
            break
        await asyncio.sleep(0.01)
    (ring,) = rig.ari.originated()
    assert ring.param("endpoint") == "PJSIP/2002"
    leg = ring.param("channelId")
    assert rig.followed.legs == {leg: True}
    await rig.event("StasisStart", leg)
    state = rig.control.state("c1")
    assert state is not None and state.consult is not None
    assert (state.consult.state, state.consult.party) == ("talking", "bob")
    assert rig.routing.unavailable("bob", "voice") == "agent bob is busy on voice"
    await rig.act("cancel")
    assert leg in rig.ari.hung_up()
    assert rig.contacts.closed == {"k1": "completed"}
    assert rig.routing.unavailable("bob", "voice") is None  # free again (no wrap-up)


async def test_consult_an_agent_who_cannot_take_it() -> None:
    rig = Rig(with_routing=True)
    await log_in(rig.routing, "alice")  # bob is offline
    with pytest.raises(Conflict, match="cannot consult agent:bob: agent bob is offline"):
        await rig.act("consult", "agent:bob")
    state = rig.control.state("c1")
    assert state is not None and not state.held and state.consult is None
    assert rig.ari.requests == [] and rig.logged == [] and rig.contacts.opened == []


async def test_an_agent_who_declines_ends_the_consultation() -> None:
    rig = Rig(with_routing=True)
    await log_in(rig.routing, "alice", "bob")
    await rig.act("consult", "agent:bob")
    for _ in range(20):
        if rig.ari.originated():
            break
        await asyncio.sleep(0.01)
    leg = rig.ari.originated()[0].param("channelId")
    await rig.event("ChannelDestroyed", leg, cause=21)  # declined
    for _ in range(20):
        if "call.consult_ended" in rig.kinds():
            break
        await asyncio.sleep(0.01)
    ended = rig.last("call.consult_ended")
    assert (ended["outcome"], ended["by"]) == ("unanswered", "timeout")
    state = rig.control.state("c1")
    assert state is not None and state.consult is None and state.held
    assert rig.contacts.closed == {"k1": "abandoned"}


async def test_consult_a_queue_through_routing() -> None:
    rig = Rig(with_routing=True)
    await log_in(rig.routing, "bob")  # alice is on this call, not taking another
    await rig.act("consult", "queue:support")
    for _ in range(20):
        if rig.ari.originated():
            break
        await asyncio.sleep(0.01)
    # The queue offers it to whoever is free: bob.
    leg = rig.ari.originated()[0].param("channelId")
    await rig.event("StasisStart", leg)
    state = rig.control.state("c1")
    assert state is not None and state.consult is not None
    assert (state.consult.to, state.consult.party) == ("queue:support", "bob")
    assert rig.contacts.opened == [("alice", "queue:support")]


class Port:
    """The conversation's port as `Consultation.take_over` uses it: its inbox."""

    def __init__(self, ari: FakeAri) -> None:
        self.ari = ari
        self.inbox: asyncio.Queue[AriEvent] = asyncio.Queue()
        self.gone = False

    async def next_event(self, timeout: float | None) -> AriEvent | None:
        try:
            event = await asyncio.wait_for(self.inbox.get(), timeout)
        except TimeoutError:
            return None
        if event["type"] == "StasisEnd" and event["channel"]["id"] == "caller-1":
            self.gone = True
            raise CallerGone()
        return event

    async def guarded(self, call: Any) -> Any:
        return await call

    async def leave_bridge(self, bridge: str) -> None:
        await self.ari.request(
            "POST", f"bridges/{bridge}/removeChannel", params={"channel": "caller-1"}
        )


def gone(channel: str) -> AriEvent:
    return {"type": "StasisEnd", "channel": {"id": channel}}


async def test_handed_over_the_caller_talks_with_the_party_until_it_hangs_up(rig: Rig) -> None:
    party = await rig.talking()
    consultation = await rig.control.agent_left("c1")
    assert consultation is not None
    await rig.control.close("c1", "transfer")
    port = Port(rig.ari)
    port.inbox.put_nowait(gone(party))
    await consultation.take_over(port)  # type: ignore[arg-type]
    # The held caller joined the party's bridge; the party's end ends it all.
    joined = rig.ari.made("POST", "bridges/talk-leg-1/addChannel")
    assert joined[-1].param("channel") == "caller-1"
    assert rig.kinds().count("call.consult_ended") == 1
    assert rig.last("transfer.ended")["ended_by"] == "party"
    assert party in rig.ari.hung_up() and rig.ari.made("DELETE", "bridges/talk-leg-1")
    assert rig.followed.legs == {}


async def test_handed_over_while_ringing_the_caller_hears_it_ring(rig: Rig) -> None:
    await rig.act("consult", "number:5557801")
    party = rig.party
    consultation = await rig.control.agent_left("c1")
    assert consultation is not None
    await rig.control.close("c1", "transfer")
    port = Port(rig.ari)
    port.inbox.put_nowait({"type": "StasisStart", "channel": {"id": party}})
    port.inbox.put_nowait(gone("caller-1"))
    with pytest.raises(CallerGone):
        await consultation.take_over(port)  # type: ignore[arg-type]
    assert rig.ari.played("caller-1") == [["tone:ring"]]
    assert rig.last("call.consult_answered")["party"] == "5557801"
    ended = rig.last("call.consult_ended")
    assert (ended["outcome"], ended["by"]) == ("completed", "agent")
    assert rig.last("transfer.ended")["ended_by"] == "caller"
    assert party in rig.ari.hung_up() and rig.ari.made("DELETE", "bridges/talk-leg-1")


async def test_handed_over_while_ringing_and_never_answered(rig: Rig) -> None:
    await rig.act("consult", "number:5557801")
    party = rig.party
    consultation = await rig.control.agent_left("c1")
    assert consultation is not None
    await rig.control.close("c1", "transfer")
    port = Port(rig.ari)
    port.inbox.put_nowait({"type": "ChannelDestroyed", "channel": {"id": party}, "cause": 17})
    await consultation.take_over(port)  # type: ignore[arg-type]  # the flow goes on
    ended = rig.last("call.consult_ended")
    assert (ended["outcome"], ended["by"]) == ("unanswered", "busy")
    assert "transfer.ended" not in rig.kinds()
    # The caller leaves the bridge (back to the flow), which then goes.
    assert rig.ari.made("POST", "bridges/talk-leg-1/removeChannel")[-1].param("channel") == (
        "caller-1"
    )
    assert rig.ari.made("DELETE", "bridges/talk-leg-1")


async def test_handed_over_while_ringing_the_caller_hangs_up_first(rig: Rig) -> None:
    await rig.act("consult", "number:5557801")
    party = rig.party
    consultation = await rig.control.agent_left("c1")
    assert consultation is not None
    await rig.control.close("c1", "transfer")
    port = Port(rig.ari)
    port.inbox.put_nowait(gone("caller-1"))
    with pytest.raises(CallerGone):
        await consultation.take_over(port)  # type: ignore[arg-type]
    ended = rig.last("call.consult_ended")
    assert (ended["outcome"], ended["by"]) == ("hung_up", "caller")
    assert party in rig.ari.hung_up() and "transfer.ended" not in rig.kinds()


async def test_what_is_left_ends_with_the_call(rig: Rig) -> None:
    party = await rig.talking()
    await rig.act("conference")
    await rig.control.close("c1", "agent")  # not through agent_left (an error, say)
    assert rig.last("call.conference_ended")["by"] == "agent"
    assert rig.kinds().count("call.consult_ended") == 1  # its conference outcome
    assert party in rig.ari.hung_up()


async def test_a_call_whose_conversation_routes_no_party_events_cannot_consult() -> None:
    ari = FakeAri()
    control = AriCallControl(ari, {"support": QueueSettings()}, dialing=CallbackConfig())

    async def emit(kind: str, data: dict[str, Any]) -> None:
        raise AssertionError(kind)

    control.open("c2", "alice", "support", "caller-2", "leg-2", "talk-leg-2", emit, print)
    with pytest.raises(Conflict, match="contact c2's call cannot consult: transfer it instead"):
        await control.act("c2", Command("consult", Target("number", "5557801")), by_agent=None)
    assert ari.requests == []


async def test_after_complete_the_consulted_agent_controls_the_callers_call(
    tmp_path: Path,
) -> None:
    """The whole conversation (tests/unit/voice/test_transfers.py's rig): a consults b,
    completes; the caller's call is b's under call control, its end logged with b, and
    b's one wrap-up is the consult contact's offer ending."""
    desk = Desk(tmp_path)
    contacts = Contacts()
    desk.calls.consult_contacts = contacts
    wait, a_leg = await desk.talking_with_a("b")
    await desk.calls.act("c1", Command("consult", Target("agent", "b")), by_agent="a", by="a")
    b_leg = await desk.rung("1002")
    desk.port.deliver(channel_event("StasisStart", b_leg))

    def consulting() -> bool:
        state = desk.calls.state("c1")
        return state is not None and state.consult is not None and state.consult.party == "b"

    await eventually(consulting)
    await desk.calls.act("c1", Command("complete"), by_agent="a", by="a")
    await eventually(lambda: desk.calls.live_of_agent("b") == "c1")
    assert desk.calls.live_of_agent("a") is None and a_leg in desk.ari.hung_up()
    state = desk.calls.state("c1")
    assert state is not None and (state.agent, state.queue, state.held) == ("b", "q", False)
    assert state.consult is None
    assert [c["agent"] for c in desk.said("queue.connected")] == ["a", "b"]
    assert str(desk.routing.agent_status("b")[Channel.VOICE].state) == "busy"
    live = desk.calls.calls["c1"]
    assert (live.caller, live.leg, live.bridge) == (CALLER, b_leg, f"talk-{a_leg}")

    # Only b controls it now; b holds (the queue's music) and resumes.
    with pytest.raises(NotYours, match="c1 is b's call"):
        await desk.calls.act("c1", Command("hold"), by_agent="a", by="a")
    assert not desk.calls.state("c1").held  # type: ignore[union-attr]
    state = await desk.calls.act("c1", Command("hold"), by_agent="b", by="b")
    assert state.held
    mohs = desk.ari.made("POST", f"channels/{CALLER}/moh")
    assert len(mohs) == 2 and mohs[-1].param("mohClass") == "default"  # a's, then b's
    state = await desk.calls.act("c1", Command("resume"), by_agent="b", by="b")
    assert not state.held
    assert desk.ari.made("POST", f"bridges/talk-{a_leg}/addChannel")[-1].param("channel") == CALLER
    assert [e["agent"] for e in desk.said("call.held")] == ["a", "b"]  # (a: the consult)

    desk.port.deliver(channel_event("StasisEnd", b_leg))  # b hangs up
    assert await asyncio.wait_for(wait, 1) == "answered"
    ends = desk.said("queue.call_ended")
    assert [(e["agent"], e["ended_by"]) for e in ends] == [("a", "transfer"), ("b", "agent")]
    assert "hold_seconds" in ends[-1]
    assert desk.said("transfer.ended")[-1]["ended_by"] == "party"
    assert desk.calls.state("c1") is None and desk.calls.live_of_agent("b") is None
    assert contacts.closed == {"k1": "completed"}
    # One end of b's routing offer (the consult contact's), none of the caller's contact.
    finishes = [c for t, c, _ in desk.log.records if t == "agent.finish"]
    assert finishes == ["c1", "k1"]  # a's of the caller's contact, b's of the consult
    assert str(desk.routing.agent_status("b")[Channel.VOICE].state) != "busy"
    assert f"talk-{a_leg}" in [r.path.split("/")[1] for r in desk.ari.made("DELETE", "bridges/")]


async def test_the_agent_hangs_up_mid_consult_the_colleague_transfers_the_caller_on(
    tmp_path: Path,
) -> None:
    """a hangs up while consulting b (answered): the caller's call is b's, and b can
    pass it on (a blind transfer to a queue): b's part ends with the consult offer."""
    desk = Desk(tmp_path)
    contacts = Contacts()
    desk.calls.consult_contacts = contacts
    wait, a_leg = await desk.talking_with_a("b", "s")
    await desk.calls.act("c1", Command("consult", Target("agent", "b")), by_agent="a", by="a")
    b_leg = await desk.rung("1002")
    desk.port.deliver(channel_event("StasisStart", b_leg))

    def consulting() -> bool:
        state = desk.calls.state("c1")
        return state is not None and state.consult is not None and state.consult.party == "b"

    await eventually(consulting)
    desk.port.deliver(channel_event("StasisEnd", a_leg))  # a hangs up
    await eventually(lambda: desk.calls.live_of_agent("b") == "c1")
    state = desk.calls.state("c1")
    assert state is not None and not state.held  # back in the bridge with b
    assert desk.ari.made("POST", f"bridges/talk-{a_leg}/addChannel")[-1].param("channel") == CALLER
    state = await desk.calls.act(
        "c1", parse_command("transfer", {"to": "queue:sales", "note": "quote"}), by_agent="b"
    )
    s_leg = await desk.rung("1003")
    assert b_leg in desk.ari.hung_up() and contacts.closed == {"k1": "completed"}
    desk.port.deliver(channel_event("StasisStart", s_leg))
    await eventually(lambda: desk.calls.live_of_agent("s") == "c1")
    desk.port.deliver(channel_event("StasisEnd", s_leg))
    assert await asyncio.wait_for(wait, 1) == "answered"
    ends = [(e["agent"], e["ended_by"]) for e in desk.said("queue.call_ended")]
    assert ends == [("a", "transfer"), ("b", "transfer"), ("s", "agent")]
    kinds = [(t["agent"], t["kind"], t["to"]) for t in desk.said("call.transferred")]
    assert kinds == [("a", "consult", "agent:b"), ("b", "blind", "queue:sales")]
    finishes = [c for t, c, _ in desk.log.records if t == "agent.finish"]
    assert finishes == ["c1", "k1", "c1"]  # a, then b (the consult offer), then s
