"""ari_app/call_control.py on an in-memory ARI: hold and resume, their events and
clock, refusals that leave the call as it was, and a call that ends on hold."""

from __future__ import annotations

from typing import Any

import pytest

from ari_app.call_control import TRANSFER_EVENT, AriCallControl, BlindTransfer
from ari_app.client import AriError, AriEvent, AriNotFound
from hotline.acd.settings import QueueSettings
from hotline.callbacks.settings import CallbackConfig
from hotline.calls import BadCommand, Command, Conflict, NotFound, NotYours, Target
from tests.unit.voice.fake_ari import FakeAri


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def rig() -> tuple[FakeAri, AriCallControl, Clock, list[tuple[str, dict[str, Any]]]]:
    ari, clock = FakeAri(), Clock()
    control = AriCallControl(
        ari,
        {"support": QueueSettings(music_on_hold="jazz")},
        agents=["alice", "bob"],
        dialing=CallbackConfig(
            dial_template="PJSIP/{number}@trunk", allowed_prefixes=["555", "+44"]
        ),
        own_numbers=("5550100",),
        now=clock,
    )
    logged: list[tuple[str, dict[str, Any]]] = []

    async def emit(kind: str, data: dict[str, Any]) -> None:
        logged.append((kind, data))

    control.open("c1", "alice", "support", "caller-1", "leg-1", "talk-leg-1", emit, INBOX.append)
    return ari, control, clock, logged


INBOX: list[AriEvent] = []


@pytest.fixture(autouse=True)
def empty_inbox() -> None:
    INBOX.clear()


HOLD, RESUME = Command("hold"), Command("resume")


async def test_hold_and_resume(rig: Any) -> None:
    ari, control, clock, logged = rig
    assert control.live_of_agent("alice") == "c1" and control.live_of_agent("bob") is None
    state = await control.act("c1", HOLD, by_agent="alice", by="alice")
    assert state.held and state.hold_seconds == 0
    # The caller leaves the bridge for the queue's music; the agent stays in it.
    (left,) = ari.made("POST", "bridges/talk-leg-1/removeChannel")
    assert left.param("channel") == "caller-1"
    (music,) = ari.made("POST", "channels/caller-1/moh")
    assert music.param("mohClass") == "jazz"
    assert logged == [("call.held", {"agent": "alice", "by": "alice"})]
    clock.t += 7.25
    assert control.state("c1").hold_seconds == 7.25
    state = await control.act("c1", RESUME, by_agent=None, by="sue")
    assert not state.held and state.hold_seconds == 7.25
    assert ari.made("DELETE", "channels/caller-1/moh")
    (back,) = ari.made("POST", "bridges/talk-leg-1/addChannel")
    assert back.param("channel") == "caller-1"
    assert logged[-1] == (
        "call.resumed",
        {
            "agent": "alice",
            "by": "sue",
            "hold_seconds": 7.2,
            "total_hold_seconds": 7.2,
            "ended": False,
        },
    )
    await control.act("c1", HOLD, by_agent="alice")
    clock.t += 2
    await control.act("c1", RESUME, by_agent="alice")
    assert logged[-1][1]["total_hold_seconds"] == 9.2 and logged[-1][1]["by"] == "alice"
    assert await control.close("c1", "caller") == 9.2
    assert control.state("c1") is None and control.live_of_agent("alice") is None


async def test_refusals_leave_the_call_as_it_was(rig: Any) -> None:
    ari, control, _, logged = rig
    with pytest.raises(Conflict, match="contact c1 is not on hold"):
        await control.act("c1", RESUME, by_agent="alice")
    with pytest.raises(NotFound, match="contact c9 has no live call with an agent"):
        await control.act("c9", HOLD, by_agent=None)
    with pytest.raises(NotYours, match="contact c1 is alice's call"):
        await control.act("c1", HOLD, by_agent="bob")
    with pytest.raises(Conflict, match="contact c1 has no consultation to complete"):
        await control.act("c1", Command("complete"), by_agent="alice")
    assert ari.requests == [] and logged == []
    await control.act("c1", HOLD, by_agent="alice")
    with pytest.raises(Conflict, match="contact c1 is already on hold"):
        await control.act("c1", HOLD, by_agent="alice")
    assert len(ari.made("POST", "channels/caller-1/moh")) == 1


async def test_music_refused_puts_the_caller_back(rig: Any) -> None:
    ari, control, _, logged = rig
    ari.failures[("POST", "channels/caller-1/moh")] = AriError(422, "no such class")
    with pytest.raises(Conflict, match="hold failed on contact c1"):
        await control.act("c1", HOLD, by_agent="alice")
    (back,) = ari.made("POST", "bridges/talk-leg-1/addChannel")
    assert back.param("channel") == "caller-1"
    assert not control.state("c1").held and logged == []


async def test_a_caller_gone_meanwhile_is_not_found(rig: Any) -> None:
    ari, control, _, logged = rig
    ari.failures[("POST", "bridges/talk-leg-1/removeChannel")] = AriNotFound(404, "gone")
    with pytest.raises(NotFound, match="contact c1's call is ending"):
        await control.act("c1", HOLD, by_agent="alice")
    assert not control.state("c1").held and logged == []


async def test_a_call_ending_on_hold_ends_the_hold(rig: Any) -> None:
    ari, control, clock, logged = rig
    await control.act("c1", HOLD, by_agent="alice")
    clock.t += 3
    ari.failures[("DELETE", "channels/caller-1/moh")] = AriNotFound(404, "gone")
    assert await control.close("c1", "caller") == 3.0
    assert logged[-1] == (
        "call.resumed",
        {
            "agent": "alice",
            "by": "caller",
            "hold_seconds": 3.0,
            "total_hold_seconds": 3.0,
            "ended": True,
        },
    )
    with pytest.raises(NotFound):
        await control.act("c1", RESUME, by_agent="alice")
    assert await control.close("c1", "caller") == 0.0  # once only


async def test_unknown_queue_holds_with_the_default_music() -> None:
    ari = FakeAri()
    control = AriCallControl(ari, {})

    async def emit(kind: str, data: dict[str, Any]) -> None:
        return None

    control.open("c2", "bob", "gone", "caller-2", "leg-2", "talk-leg-2", emit, INBOX.append)
    await control.act("c2", HOLD, by_agent=None)
    (music,) = ari.made("POST", "channels/caller-2/moh")
    assert music.param("mohClass") == "default"


def transfer(to: str, note: str = "") -> Command:
    kind, _, value = to.partition(":")
    return Command("transfer", Target(kind, value), note)  # type: ignore[arg-type]


async def test_blind_transfer_to_a_number_goes_to_the_conversation(rig: Any) -> None:
    _ari, control, _, logged = rig
    await control.act("c1", HOLD, by_agent="alice")
    state = await control.act(
        "c1", transfer("number:555 123-4567", "wants a refund"), by_agent="alice", by="alice"
    )
    assert state.agent == "alice"
    (handed,) = INBOX
    assert handed["type"] == TRANSFER_EVENT
    assert handed["transfer"] == BlindTransfer(
        Target("number", "555 123-4567"), "PJSIP/5551234567@trunk", "wants a refund", "alice"
    )
    # One transfer at a time; nothing else meanwhile.
    for command in (transfer("number:5559999"), RESUME, HOLD):
        with pytest.raises(Conflict, match="c1 is being transferred to number:555 123-4567"):
            await control.act("c1", command, by_agent="alice")
    assert len(INBOX) == 1
    # The conversation ends the agent's part: the hold ends with it.
    assert await control.close("c1", "transfer") == 0.0
    assert logged[-1][1]["by"] == "transfer" and logged[-1][1]["ended"] is True


@pytest.mark.parametrize(
    ("to", "error", "says"),
    [
        ("number:12", BadCommand, "cannot dial number:12: '12' has 2 digits"),
        ("number:4412345678", BadCommand, "does not start with an allowed prefix (555, +44)"),
        ("number:5550100", BadCommand, "is the hotline's own number"),
        ("agent:nobody", NotFound, "no agent 'nobody'"),
        ("queue:nowhere", NotFound, "no queue 'nowhere'"),
        ("agent:bob", Conflict, "transfer to agents is not available on this Hotline"),
    ],
)
async def test_refused_transfers_leave_the_call(rig: Any, to: str, error: type, says: str) -> None:
    ari, control, _, logged = rig
    with pytest.raises(error) as refused:
        await control.act("c1", transfer(to), by_agent="alice")
    assert says in str(refused.value)
    assert INBOX == [] and ari.requests == [] and logged == []
    assert control.state("c1") is not None and control.live_of_agent("alice") == "c1"
    await control.act("c1", HOLD, by_agent="alice")  # still under control


async def test_no_dial_rules_no_numbers() -> None:
    control = AriCallControl(FakeAri(), {})

    async def emit(kind: str, data: dict[str, Any]) -> None:
        return None

    control.open("c3", "bob", "q", "caller-3", "leg-3", "talk-leg-3", emit, INBOX.append)
    with pytest.raises(BadCommand, match="dials no numbers"):
        await control.act("c3", transfer("number:5551234"), by_agent=None)
    assert INBOX == []
