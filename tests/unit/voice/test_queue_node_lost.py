"""A waiting caller whose Asterisk goes away, or whose node was taken for lost while its
worker was cut off (ari_app/queueing.py `lost_with_node`, `rebooked`), over a fake ARI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hotline.flows.port import CallerGone
from tests.unit.voice.fake_ari import channel_event
from tests.unit.voice.test_voice_queue import CALLER, HELD, Call, eventually


async def test_asterisk_gone_under_a_waiting_caller_applies_the_node_lost_policy(
    tmp_path: Path,
) -> None:
    call = Call(tmp_path)
    lost: list[str] = []

    async def lost_with_node(contact_id: str) -> object:
        lost.append(contact_id)
        return None

    call.queueing.lost_with_node = lost_with_node
    wait = await call.start()
    await eventually(lambda: call.ari.made("POST", f"bridges/{HELD}/addChannel"))
    # ARI went away: every call gets a StasisEnd marked lost (ari_app/app.py).
    call.port.deliver({**channel_event("StasisEnd", CALLER), "lost": "asterisk gone"})
    with pytest.raises(CallerGone):
        await asyncio.wait_for(wait, 1)
    assert lost == ["c1"]
    # Not an abandon: the policy decides (the leader's callback takes the place).
    assert call.log.of("contact.leave") == []


async def test_a_hang_up_is_still_a_leave_and_a_failing_policy_falls_back_to_it(
    tmp_path: Path,
) -> None:
    call = Call(tmp_path)
    asked: list[str] = []

    async def failing(contact_id: str) -> object:
        asked.append(contact_id)
        raise RuntimeError("the leader is unreachable")

    call.queueing.lost_with_node = failing
    wait = await call.start()
    await eventually(lambda: call.ari.made("POST", f"bridges/{HELD}/addChannel"))
    call.port.deliver({**channel_event("StasisEnd", CALLER), "lost": "asterisk gone"})
    with pytest.raises(CallerGone):
        await asyncio.wait_for(wait, 1)
    assert asked == ["c1"]
    assert [d.get("detail") for d in call.log.of("contact.leave")] == ["left"]

    hung_up = Call(tmp_path)
    hung_up.queueing.lost_with_node = failing
    wait = await hung_up.start()
    await eventually(lambda: hung_up.ari.made("POST", f"bridges/{HELD}/addChannel"))
    hung_up.port.deliver(channel_event("StasisEnd", CALLER))  # the caller hung up
    with pytest.raises(CallerGone):
        await asyncio.wait_for(wait, 1)
    assert asked == ["c1"]  # the policy is for calls Asterisk lost, not hang-ups
    assert [d.get("detail") for d in hung_up.log.of("contact.leave")] == ["left"]


@pytest.mark.parametrize(
    ("said", "prompt", "outcome"),
    [
        ({"action": "callback", "queue": "q", "callback": "cb-1"}, "callback_booked", "callback"),
        ({"action": "lost", "queue": "q", "why": "no callbacks"}, "agents_unavailable", "closed"),
    ],
)
async def test_a_caller_rebooked_while_its_worker_was_cut_off_is_told_before_the_end(
    tmp_path: Path, said: dict[str, Any], prompt: str, outcome: str
) -> None:
    call = Call(tmp_path)
    call.queueing.rebooked = lambda contact_id: said if contact_id == "c1" else None
    wait = await call.start()
    await eventually(lambda: call.ari.made("POST", f"bridges/{HELD}/addChannel"))
    ticket = call.routing.ticket("c1")
    assert ticket is not None
    # Back on the bus, the worker learns the leader took the caller out (sync: left).
    await call.routing.leave("c1", "left")
    result = asyncio.ensure_future(asyncio.wait_for(wait, 2))
    await eventually(lambda: call.ari.played(CALLER))
    playback = call.ari.made("POST", f"channels/{CALLER}/play")[-1]
    call.port.deliver(
        channel_event("PlaybackFinished", CALLER, playback={"id": playback.param("playbackId")})
    )
    assert await result == outcome
    assert call.ari.played(CALLER)[-1] == [f"sound:{prompt}"]
    told = [{"queue": "q", "callback": "cb-1", "by": "node_lost"}]
    assert call.said("queue.callback") == (told if said["action"] == "callback" else [])
