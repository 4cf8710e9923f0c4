"""ari_app/call_control.py on an in-memory ARI: hold and resume, their events and
clock, refusals that leave the call as it was, and a call that ends on hold."""

from __future__ import annotations

from typing import Any

import pytest

from ari_app.call_control import AriCallControl
from ari_app.client import AriError, AriNotFound
from hotline.acd.settings import QueueSettings
from hotline.calls import Command, Conflict, NotFound, NotYours
from tests.unit.voice.fake_ari import FakeAri


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def rig() -> tuple[FakeAri, AriCallControl, Clock, list[tuple[str, dict[str, Any]]]]:
    ari, clock = FakeAri(), Clock()
    control = AriCallControl(ari, {"support": QueueSettings(music_on_hold="jazz")}, now=clock)
    logged: list[tuple[str, dict[str, Any]]] = []

    async def emit(kind: str, data: dict[str, Any]) -> None:
        logged.append((kind, data))

    control.open("c1", "alice", "support", "caller-1", "leg-1", "talk-leg-1", emit)
    return ari, control, clock, logged


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
    with pytest.raises(Conflict, match="transfer is not available on this call"):
        await control.act("c1", Command("transfer"), by_agent="alice")
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

    control.open("c2", "bob", "gone", "caller-2", "leg-2", "talk-leg-2", emit)
    await control.act("c2", HOLD, by_agent=None)
    (music,) = ari.made("POST", "channels/caller-2/moh")
    assert music.param("mohClass") == "default"
