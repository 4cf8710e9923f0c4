"""A callback's call cut by Asterisk going away (ari_app/callback_dialer.py, over a fake
ARI): the legs end "lost" (ari_app/app.py's on_disconnect); the attempt is interrupted,
not completed: the node-lost policy is told instead of `finished`, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.unit.voice.fake_ari import channel_event
from tests.unit.voice.test_callback_dialer import Dialer, eventually

LOST = "the ARI events WebSocket closed"


def judged_by(dialer: Dialer, elsewhere: bool) -> list[tuple[str, str]]:
    """Give the dialer a node-lost policy that records what it is told."""
    told: list[tuple[str, str]] = []

    async def lost_with_node(contact: str, agent: str) -> bool:
        told.append((contact, agent))
        return elsewhere

    dialer.calls.lost_with_node = lost_with_node
    return told


async def talking(dialer: Dialer) -> tuple[asyncio.Future[object], str, str]:
    """Agent first: the agent answers, hears the whisper, the customer answers."""
    turn = await dialer.start()
    agent = await dialer.leg("agent")
    await dialer.answer(agent)
    await dialer.finish_playback(agent)
    customer = await dialer.leg("customer")
    await dialer.answer(customer)
    await eventually(lambda: "answered" in dialer.steps())
    return turn, agent, customer


def finished(dialer: Dialer) -> int:
    return len(dialer.log.of("agent.finish"))


async def test_a_conversation_cut_by_asterisk_is_judged_lost_not_completed(
    tmp_path: Path,
) -> None:
    dialer = Dialer(tmp_path)
    told = judged_by(dialer, elsewhere=False)
    turn, agent, customer = await talking(dialer)
    for leg in (agent, customer):  # both legs end with Asterisk
        dialer.send(channel_event("StasisEnd", leg, lost=LOST))
    result = await asyncio.wait_for(turn, 1)
    assert told == [("cb1", "a")]
    assert finished(dialer) == 0  # the policy tells routing, not `finished`
    assert (result.outcome, result.agent) == ("requeue", "a")  # tried again here
    assert result.detail == {"lost": LOST, "after": "completed"}
    assert dialer.dialed == ["a"]  # the attempt was used


async def test_cut_on_a_worker_that_cannot_dial_it_stops_serving_it(tmp_path: Path) -> None:
    dialer = Dialer(tmp_path)
    told = judged_by(dialer, elsewhere=True)  # a cluster: a worker that can dial gets it
    turn, agent, _ = await talking(dialer)
    dialer.send(channel_event("StasisEnd", agent, lost=LOST))
    result = await asyncio.wait_for(turn, 1)
    assert told == [("cb1", "a")]
    assert (result.outcome, result.agent) == ("cancelled", "a")


async def test_cut_while_the_customer_rings_is_judged_lost_too(tmp_path: Path) -> None:
    dialer = Dialer(tmp_path)
    told = judged_by(dialer, elsewhere=False)
    turn = await dialer.start()
    agent = await dialer.leg("agent")
    await dialer.answer(agent)
    await dialer.finish_playback(agent)
    customer = await dialer.leg("customer")
    dialer.send(channel_event("StasisEnd", agent, lost=LOST))
    result = await asyncio.wait_for(turn, 1)
    assert told == [("cb1", "a")] and finished(dialer) == 0
    assert result.outcome == "requeue" and dialer.dialed == ["a"]
    assert customer in dialer.ari.hung_up()


async def test_a_policy_that_fails_leaves_routing_told_finished(tmp_path: Path) -> None:
    dialer = Dialer(tmp_path)

    async def unreachable(contact: str, agent: str) -> bool:
        raise RuntimeError("no routing leader answered")

    dialer.calls.lost_with_node = unreachable
    turn, agent, _ = await talking(dialer)
    dialer.send(channel_event("StasisEnd", agent, lost=LOST))
    result = await asyncio.wait_for(turn, 1)
    assert finished(dialer) == 1  # the agent is not left busy
    assert result.outcome == "requeue"  # the interrupted attempt is tried again


async def test_a_hang_up_is_no_cut_the_policy_is_not_told(tmp_path: Path) -> None:
    dialer = Dialer(tmp_path)
    told = judged_by(dialer, elsewhere=False)
    turn, _, customer = await talking(dialer)
    dialer.send(channel_event("StasisEnd", customer))
    result = await asyncio.wait_for(turn, 1)
    assert told == [] and finished(dialer) == 1
    assert result.outcome == "completed"


async def test_the_customer_is_hung_up_before_routing_is_told(tmp_path: Path) -> None:
    """The agent hangs up: the customer's line goes at once, not after the routing
    leader's answer (slow while it fails over)."""
    dialer = Dialer(tmp_path)
    turn, agent, customer = await talking(dialer)
    told_when_gone: list[bool] = []
    real = dialer.routing.finished

    async def finished(agent_id: str, contact_id: str) -> None:
        told_when_gone.append(customer in dialer.ari.hung_up())
        await real(agent_id, contact_id)

    dialer.routing.finished = finished  # type: ignore[method-assign]
    dialer.send(channel_event("StasisEnd", agent))
    result = await asyncio.wait_for(turn, 1)
    assert result.outcome == "completed" and told_when_gone == [True]
