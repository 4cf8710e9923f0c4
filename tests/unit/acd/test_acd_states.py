import itertools

import pytest

from hotline.acd import ALLOWED, TRANSITIONS, AgentState, Channel, IllegalTransition
from hotline.acd.states import ChannelStatus, transition

S = AgentState
LEGAL = [
    (action, src, dst)
    for action, table in TRANSITIONS.items()
    for src, dsts in table.items()
    for dst in sorted(dsts)
]
ILLEGAL = [
    (action, src, dst)
    for action in TRANSITIONS
    for src, dst in itertools.product(S, S)
    if dst not in TRANSITIONS[action].get(src, ())
]


@pytest.mark.parametrize(("action", "src", "dst"), LEGAL)
def test_every_legal_transition_moves_and_records_an_event(action, src, dst):
    status = ChannelStatus(state=src)
    event = transition(
        "a1", Channel.VOICE, status, action, dst, 5.0, reason="lunch", contact="c1", queue="q"
    )
    assert status.state is dst and status.since == 5.0
    assert (event.type, event.agent, event.channel) == (f"agent.{action}", "a1", "voice")
    assert (event.from_state, event.to_state, event.reason) == (src, dst, "lunch")
    assert (event.contact, event.queue, event.at) == ("c1", "q", 5.0)
    assert status.reason == ("lunch" if dst is S.PAUSED else None)


@pytest.mark.parametrize(("action", "src", "dst"), ILLEGAL)
def test_every_other_transition_raises_and_changes_nothing(action, src, dst):
    status = ChannelStatus(state=src, since=1.0)
    with pytest.raises(IllegalTransition, match=f"cannot {action} to {dst} while {src}"):
        transition("a1", Channel.CHAT, status, action, dst, 5.0)
    assert status.state is src and status.since == 1.0


def test_unknown_action_is_an_error():
    with pytest.raises(ValueError, match="unknown agent action"):
        transition("a1", Channel.VOICE, ChannelStatus(), "teleport", S.BUSY, 0.0)


def test_allowed_pairs_cover_the_documented_lifecycle():
    for pair in [
        (S.OFFLINE, S.AVAILABLE),
        (S.AVAILABLE, S.RESERVED),
        (S.RESERVED, S.RINGING),
        (S.RINGING, S.BUSY),
        (S.BUSY, S.WRAP_UP),
        (S.WRAP_UP, S.AVAILABLE),
        (S.RINGING, S.PAUSED),
        (S.PAUSED, S.AVAILABLE),
        (S.AVAILABLE, S.OFFLINE),
    ]:
        assert pair in ALLOWED
    for pair in [
        (S.OFFLINE, S.BUSY),
        (S.BUSY, S.OFFLINE),
        (S.RESERVED, S.OFFLINE),
        (S.WRAP_UP, S.BUSY),
        (S.OFFLINE, S.RESERVED),
    ]:
        assert pair not in ALLOWED


def test_router_refuses_illegal_agent_actions_with_clear_errors(lab):
    lab.queue()
    lab.agent("a")
    lab.contact("c1")
    assert lab.offers(1) == [("c1", "a")]
    with pytest.raises(IllegalTransition, match="agent a on voice: cannot logout"):
        lab.r.logout("a", 2)
    with pytest.raises(IllegalTransition, match="cannot pause"):
        lab.r.pause("a", "lunch", 2, channels=["voice"])
    lab.r.ringing("a", "c1", 2)
    with pytest.raises(IllegalTransition, match="cannot ring"):
        lab.r.ringing("a", "c1", 2)
    lab.r.accept("a", "c1", 3)
    with pytest.raises(IllegalTransition, match="agent a on voice: cannot logout"):
        lab.r.logout("a", 4)
    with pytest.raises(IllegalTransition, match="cannot login"):
        lab.r.login("a", 4, channels=["voice"])
    with pytest.raises(IllegalTransition, match="cannot wrap_end"):
        lab.r.end_wrap_up("a", 4, channel="voice")
    with pytest.raises(ValueError, match="agent a has no offer for contact c1"):
        lab.r.accept("a", "c1", 4)
    with pytest.raises(ValueError, match="unknown agent 'zed'"):
        lab.r.pause("zed", "x", 4)
    with pytest.raises(ValueError, match="no capacity for chat"):
        lab.r.login("a", 4, channels=["chat"])


def test_a_refused_multi_channel_action_changes_no_channel(lab):
    lab.queue()
    lab.agent("a", capacity={"voice": 1, "chat": 2}, login_at=None)
    lab.r.login("a", 0, channels=["chat"])
    with pytest.raises(IllegalTransition):
        lab.r.login("a", 1, channels=["voice", "chat"])
    assert lab.state("a", "voice") == "offline"


def test_a_logout_refused_for_chats_in_progress_says_so(lab):
    """A chat agent with capacity left is 'available' while chats go on: the refusal
    names the chats (it used to list 'available' among the allowed states)."""
    lab.queue()
    lab.agent("a", capacity={"chat": 2})
    lab.contact("c1", channel="chat")
    assert lab.offers(1) == [("c1", "a")]
    lab.r.accept("a", "c1", 2)
    assert lab.state("a", "chat") == "available"
    with pytest.raises(IllegalTransition) as refused:
        lab.r.logout("a", 3)
    assert str(refused.value) == (
        "agent a on chat: cannot logout to offline while available with 1 contact(s) "
        "in progress: end them first"
    )
    assert lab.state("a", "chat") == "available"  # nothing changed
    lab.r.finish("a", "c1", 4)
    lab.r.logout("a", 4)
    assert lab.state("a", "chat") == "offline"


def test_full_lifecycle_records_each_transition(lab):
    lab.queue(wrap_up=10)
    lab.agent("a")
    lab.contact("c1", at=1)
    lab.offers(1)
    lab.r.ringing("a", "c1", 2)
    lab.r.accept("a", "c1", 3)
    lab.r.finish("a", "c1", 20)
    assert lab.state("a") == "wrap_up"
    lab.r.tick(30)
    lab.r.pause("a", "lunch", 31)
    assert lab.r.agent_status("a")["voice"].reason == "lunch"
    lab.r.unpause("a", 40)
    lab.r.logout("a", 50)
    voice = [
        (e.type, e.from_state, e.to_state)
        for e in lab.r.drain_events()
        if e.channel == "voice" and e.type.startswith("agent.")
    ]
    assert voice == [
        ("agent.login", S.OFFLINE, S.AVAILABLE),
        ("agent.reserve", S.AVAILABLE, S.RESERVED),
        ("agent.ring", S.RESERVED, S.RINGING),
        ("agent.accept", S.RINGING, S.BUSY),
        ("agent.finish", S.BUSY, S.WRAP_UP),
        ("agent.wrap_end", S.WRAP_UP, S.AVAILABLE),
        ("agent.pause", S.AVAILABLE, S.PAUSED),
        ("agent.unpause", S.PAUSED, S.AVAILABLE),
        ("agent.logout", S.AVAILABLE, S.OFFLINE),
    ]
