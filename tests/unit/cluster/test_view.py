"""A call worker's view of the queues and agents (the leader's last heartbeat)."""

from __future__ import annotations

import pytest

from hotline.acd.decisions import AgentSnapshot, ChannelSnapshot, QueueSnapshot, Snapshot
from hotline.acd.model import AgentState, Channel
from hotline.acd.router import RoutingError
from hotline.cluster.view import LeaderView


def channel(state: str, load: int = 0, capacity: int = 1) -> ChannelSnapshot:
    return ChannelSnapshot(state=state, load=load, capacity=capacity, reason=None, since=0.0)


def view() -> LeaderView:
    seen = LeaderView()
    queue = QueueSnapshot(
        name="support",
        waiting=3,
        offered=1,
        longest_wait=42.0,
        eta_new={"voice": 90.0, "chat": None},
        average_handle_time=180.0,
        agents_logged_in=4,
        agents_free=0,
        agents_paused=1,
        outcomes={},
    )
    agents = [
        AgentSnapshot("ann", {"voice": channel("available")}, 0),
        AgentSnapshot("bob", {"voice": channel("available", load=1)}, 3),
        AgentSnapshot("cat", {"voice": channel("paused")}, 0),
        AgentSnapshot("dan", {"chat": channel("available", capacity=3)}, 0),
    ]
    seen.last = Snapshot(at=12.5, queues=[queue], agents=agents)
    return seen


def test_before_any_heartbeat_it_says_so() -> None:
    empty = LeaderView()
    assert empty.snapshot(7.0) == Snapshot(at=7.0, queues=[], agents=[])
    with pytest.raises(RoutingError, match=r"no queue 'support' \(or no routing leader"):
        empty.queue_status("support", "voice")
    assert empty.unavailable("ann", "voice") == "no agent 'ann' (or no routing leader heard yet)"


def test_a_queue_as_a_flow_sees_it() -> None:
    status = view().queue_status("support", "voice")
    assert (status.waiting, status.eta, status.agents_paused) == (3, 90.0, 1)
    assert view().queue_status("support", Channel.CHAT).eta is None
    with pytest.raises(RoutingError, match="no queue 'sales'"):
        view().queue_status("sales", "voice")


def test_who_could_take_a_call_now() -> None:
    seen = view()
    assert seen.unavailable("ann", "voice") is None
    assert seen.unavailable("bob", "voice") == "agent bob is busy"
    assert seen.unavailable("cat", "voice") == "agent cat is paused on voice"
    assert seen.unavailable("dan", "voice") == "agent dan takes no voice contacts"
    assert seen.agent_status("cat")[Channel.VOICE].state is AgentState.PAUSED
    with pytest.raises(RoutingError, match="no agent 'eve'"):
        seen.agent_status("eve")
