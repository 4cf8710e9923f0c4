"""A consultation from the agent's phone (its second call) through the call control,
on an in-memory ARI: which calls are one, what Asterisk is asked, what is logged, the
phone's attended transfer completing it, and the ways it ends without one
(ari_app/call_control.py, ari_app/consultation.py)."""

from __future__ import annotations

from typing import Any

from ari_app.call_control import AriCallControl
from ari_app.consultation import HANDOVER_EVENT
from hotline.calls import CallState
from tests.unit.voice.fake_ari import FakeAri
from tests.unit.voice.test_consult import Rig

LINE = "line-2"


def state_of(rig: Rig) -> CallState:
    state = rig.control.state("c1")
    assert state is not None
    return state


def dialed(number: str, endpoint: str = "2001") -> dict[str, Any]:
    """alice's phone (endpoint 2001) calls `number`: the channel Stasis gets."""
    return {"id": LINE, "name": f"PJSIP/{endpoint}-0000002a", "dialplan": {"exten": number}}


def test_only_a_call_from_the_phone_of_an_agent_talking_under_control_is_a_line() -> None:
    rig = Rig()
    assert rig.control.line_of(dialed("5557801")) == "c1"
    assert rig.control.line_of(dialed("5557801", "2002")) is None  # bob talks with no one
    assert rig.control.line_of({"id": "x", "name": "PJSIP/anonymous-00000001"}) is None
    assert rig.control.line_of({"id": "x", "name": "Local/foo@bar-0001;1"}) is None


class Phones(dict[str, str]):
    """alice's and bob's phones, alice rung on her browser phone (`2001-web`): counts
    how often the phone to ring is asked for."""

    def __init__(self) -> None:
        super().__init__(alice="2001", bob="2002")
        self.asked = 0

    def get(self, agent: str, default: Any = None) -> Any:  # type: ignore[override]
        self.asked += 1
        return "2001-web" if agent == "alice" else super().get(agent, default)


def test_a_line_is_found_by_whose_phone_placed_it_in_one_lookup() -> None:
    phones = Phones()
    owners = {"2001": "alice", "2001-web": "alice", "2002": "bob", "2002-web": "bob"}
    control = AriCallControl(FakeAri(), {}, endpoints=phones, phone_owner=owners.get)

    async def emit(kind: str, data: dict[str, Any]) -> None:
        pass

    for n, agent in enumerate(("alice", "bob")):  # both talk with a caller
        control.open(f"c{n}", agent, "support", f"caller-{n}", f"leg-{n}", f"talk-{n}", emit, print)
        control.calls[f"c{n}"].consultable = True
    # A customer's call: whose phone it is answers it, nobody's phone is looked up.
    for n in range(50):
        assert control.line_of(dialed("5557801", f"customer{n}")) is None
    assert phones.asked == 0
    # alice's browser phone, where she is rung now, and her SIP phone are lines.
    assert control.line_of(dialed("5557801", "2001-web")) == "c0"
    assert control.line_of(dialed("5557801", "2001")) == "c0"
    # bob's browser phone while he is rung on his SIP phone: not the phone he talks on.
    assert control.line_of(dialed("5557801", "2002-web")) is None
    assert control.line_of(dialed("5557801", "2002")) == "c1"
    # A call not under control (no consultations): no line, whoever places it.
    control.calls["c1"].consultable = False
    assert control.line_of(dialed("5557801", "2002")) is None


def test_without_phone_owners_the_endpoints_say_whose_phone_it_is() -> None:
    control = AriCallControl(FakeAri(), {}, endpoints={"alice": "2001"})

    async def emit(kind: str, data: dict[str, Any]) -> None:
        pass

    control.open("c1", "alice", "support", "caller-1", "leg-1", "talk-1", emit, print)
    control.calls["c1"].consultable = True
    assert control.line_of(dialed("5557801", "2001")) == "c1"
    assert control.line_of(dialed("5557801", "2001-web")) is None
    control.calls.pop("c1")  # the conversation ended
    assert control.line_of(dialed("5557801", "2001")) is None


async def test_the_second_call_consults_and_its_refer_completes() -> None:
    rig = Rig()
    await rig.control.consult_from_phone("c1", dialed("5557801"))
    # The caller on hold with the queue's music; the line answered in a bridge of its
    # own, hearing ringback; the number dialed from it.
    assert rig.ari.made("POST", "bridges/talk-leg-1/removeChannel")
    assert rig.ari.made("POST", f"channels/{LINE}/answer")
    made = [r.param("bridgeId") for r in rig.ari.made("POST", "bridges")]
    assert f"consult-{LINE}" in made
    (added,) = rig.ari.made("POST", f"bridges/consult-{LINE}/addChannel")
    assert added.param("channel") == LINE
    (ring,) = rig.ari.made("POST", f"channels/{LINE}/play")
    assert ring.param("playbackId") == f"consult-ring-{LINE}"
    started = rig.last("call.consult_started")
    assert (started["to"], started["by"]) == ("number:5557801", "alice")
    party = rig.party
    await rig.event("StasisStart", party)  # the number answers: with the line, not leg-1
    (joined,) = [
        r
        for r in rig.ari.made("POST", f"bridges/consult-{LINE}/addChannel")
        if r.param("channel") == party
    ]
    assert joined
    assert not [
        r
        for r in rig.ari.made("POST", "bridges/talk-leg-1/addChannel")
        if r.param("channel") == party
    ]
    # The phone's attended transfer: the party moves to the caller's bridge, the line
    # goes, the caller comes off hold, the conversation is told to hand over.
    await rig.control.complete_from_phone("c1", "alice", LINE)
    moved = [r.param("channel") for r in rig.ari.made("POST", "bridges/talk-leg-1/addChannel")]
    assert party in moved and "caller-1" in moved
    assert rig.ari.made("DELETE", f"channels/{LINE}")
    assert rig.ari.made("DELETE", f"bridges/consult-{LINE}")
    assert rig.inbox[-1]["type"] == HANDOVER_EVENT
    moved_event = rig.last("call.transferred")
    assert (moved_event["kind"], moved_event["by"]) == ("consult", "alice")


async def test_hanging_up_the_second_call_cancels_and_brings_the_caller_back() -> None:
    rig = Rig()
    await rig.control.consult_from_phone("c1", dialed("5557801"))
    party = rig.party
    await rig.event("StasisStart", party)
    await rig.event("StasisEnd", LINE)  # alice hangs up her second call
    ended = rig.last("call.consult_ended")
    assert (ended["outcome"], ended["by"]) == ("cancelled", "agent")
    assert rig.ari.made("DELETE", f"channels/{party}")
    assert rig.ari.made("DELETE", f"bridges/consult-{LINE}")  # nothing left behind
    assert state_of(rig).held is False  # back with alice's first call
    assert rig.kinds()[-1] == "call.resumed"


async def test_a_party_that_hangs_up_ends_the_second_call_and_brings_the_caller_back() -> None:
    rig = Rig()
    await rig.control.consult_from_phone("c1", dialed("5557801"))
    party = rig.party
    await rig.event("StasisStart", party)
    await rig.event("StasisEnd", party)
    assert rig.last("call.consult_ended")["outcome"] == "hung_up"
    assert rig.ari.made("DELETE", f"channels/{LINE}")
    assert state_of(rig).held is False


async def test_a_refused_second_call_hangs_up_and_the_call_stays_as_it_was() -> None:
    rig = Rig()
    await rig.control.consult_from_phone("c1", dialed("12"))  # the dial rules refuse it
    (hung_up,) = rig.ari.made("DELETE", f"channels/{LINE}")
    assert hung_up.param("reason") == "busy"
    refused = rig.last("call.consult_refused")
    assert refused["agent"] == "alice" and refused["to"] == "12"
    assert "cannot dial number:12" in refused["reason"]
    state = state_of(rig)
    assert state.held is False and state.consult is None
    assert not rig.ari.made("POST", "bridges/talk-leg-1/removeChannel")


async def test_a_transfer_while_the_party_rings_goes_to_them_once_they_answer() -> None:
    """A semi-attended transfer: the phone's second call goes, the caller is handed
    over (the conversation then lets them hear it ring, consultation.take_over)."""
    rig = Rig()
    await rig.control.consult_from_phone("c1", dialed("5557801"))
    await rig.control.complete_from_phone("c1", "alice", LINE)
    consultation = rig.consultation
    assert consultation.handed_over and consultation.phase == "ringing"
    assert consultation.line is None and consultation.bridge == "talk-leg-1"
    assert rig.ari.made("DELETE", f"channels/{LINE}")
    assert rig.inbox[-1] == {"type": HANDOVER_EVENT, "consultation": consultation}
    moved = rig.last("call.transferred")
    assert (moved["kind"], moved["to"], moved["by"]) == ("consult", "number:5557801", "alice")
    # The party's leg still rings: not hung up.
    assert not rig.ari.made("DELETE", f"channels/{rig.party}")


async def test_an_attended_refer_naming_another_call_is_refused() -> None:
    rig = Rig()
    await rig.control.consult_from_phone("c1", dialed("5557801"))
    try:
        await rig.control.complete_from_phone("c1", "alice", "some-other-call")
    except Exception as refused:
        assert "is not a consultation of this call" in str(refused)
    else:
        raise AssertionError("completed with another call")
    assert state_of(rig).consult is not None  # still ringing, as it was
    assert not rig.ari.made("DELETE", f"channels/{LINE}")
