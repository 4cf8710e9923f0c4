"""The receiving agent's desk shows a transferred call's transfer (hotline/web/desk_calls.py):
who passed it on, to what, and their note, on every later offer until the contact ends
or is transferred again."""

from __future__ import annotations

from hotline.web.desk_calls import LiveCalls
from tests.unit.web.test_desk_calls import T0, Log


def alice_talks_then_transfers(e: Log, live: LiveCalls, to: str = "agent:bob") -> None:
    live.apply(e("contact.join", 0, channel="voice"))
    live.apply(e("contact.offer", 1, agent="alice", channel="voice"))
    live.apply(e("contact.answered", 2, agent="alice", channel="voice"))
    live.apply(e("queue.call_ended", 30, agent="alice", ended_by="transfer"))
    assert live.of_agent("alice") == []
    changed = live.apply(
        e("call.transferred", 30.1, agent="alice", to=to, kind="blind", note="VIP", by="alice")
    )
    assert changed is None  # nobody's desk changes until someone is offered it


def test_the_next_agent_sees_who_transferred_it_and_the_note() -> None:
    e, live = Log(), LiveCalls()
    assert live.get("c1") is None
    alice_talks_then_transfers(e, live)
    live.apply(e("contact.join", 30.2, channel="voice"))
    what, call = live.apply(e("contact.offer", 30.3, agent="bob", channel="voice")) or ("", None)
    assert what == "call" and call is not None
    shown = call.view(T0)["transferred"]
    assert shown["agent"] == "alice" and shown["by"] == "alice" and shown["note"] == "VIP"
    assert (shown["to"], shown["kind"]) == ("agent:bob", "blind")
    assert shown["at"].startswith("2026-12-06T09:00:30")
    # bob does not answer; carol gets it from the queue, with the same transfer shown.
    live.apply(e("agent.no_answer", 40, agent="bob", channel="voice"))
    live.apply(e("contact.offer", 41, agent="carol", channel="voice"))
    assert live.of_agent("carol")[0].view(T0)["transferred"]["note"] == "VIP"


def test_a_call_nobody_transferred_shows_none_and_a_contact_end_forgets_it() -> None:
    e, live = Log(), LiveCalls()
    live.apply(e("contact.offer", 1, agent="alice", channel="voice"))
    assert live.of_agent("alice")[0].view(T0)["transferred"] is None
    e2, other = Log(), LiveCalls()
    alice_talks_then_transfers(e2, other, "queue:sales")
    other.apply(e2("call.ended", 50, status="abandoned"))
    other.apply(e2("contact.offer", 60, agent="dan", channel="voice"))  # a later contact
    assert other.of_agent("dan")[0].view(T0)["transferred"] is None


def test_a_desk_opened_after_the_transfer_finds_it_in_the_replayed_log() -> None:
    e, logged = Log(), []
    for kind, at, extra in [
        ("contact.offer", 1, {"agent": "alice", "channel": "voice"}),
        ("contact.answered", 2, {"agent": "alice", "channel": "voice"}),
        ("queue.call_ended", 9, {"agent": "alice", "ended_by": "transfer"}),
        ("call.transferred", 9.1, {"agent": "alice", "to": "queue:sales", "note": "quote"}),
        ("contact.offer", 10, {"agent": "bob", "channel": "voice"}),
        ("contact.answered", 11, {"agent": "bob", "channel": "voice"}),
    ]:
        logged.append(e(kind, at, **extra))
    live = LiveCalls()
    live.apply_all(logged)
    live.apply_all(logged)  # the seed and the live stream overlap
    (call,) = live.of_agent("bob")
    assert call.phase == "talking" and call.view(T0)["transferred"]["to"] == "queue:sales"
