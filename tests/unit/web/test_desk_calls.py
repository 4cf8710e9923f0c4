"""The desk's live calls (hotline/web/desk_calls.py) from event logs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hotline.store import LoggedEvent
from hotline.web.desk_calls import LiveCalls

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class Log:
    def __init__(self) -> None:
        self.next_id = 0

    def __call__(
        self,
        type: str,
        seconds: float,
        contact: str | None = "c1",
        agent: str | None = None,
        queue: str | None = "support",
        **data: Any,
    ) -> LoggedEvent:
        self.next_id += 1
        return LoggedEvent(
            self.next_id, contact, T0 + timedelta(seconds=seconds), type, queue, agent, data
        )


def test_a_call_rings_then_talks_then_ends_with_wait_and_duration() -> None:
    e, live = Log(), LiveCalls()
    assert live.apply(e("contact.join", 0, channel="voice")) is None
    what, call = live.apply(e("contact.offer", 12, agent="alice", channel="voice")) or ("", None)
    assert what == "call" and call is not None and call.phase == "ringing"
    view = call.view(T0 + timedelta(seconds=14))
    assert view["waited"] == 14.0 and view["seconds"] is None and view["queue"] == "support"
    assert live.apply(e("agent.ring", 12.1, agent="alice", channel="voice")) is None
    what, call = live.apply(e("contact.answered", 15, agent="alice", channel="voice")) or ("", None)
    assert what == "call" and call is not None and call.phase == "talking"
    changed = live.apply(e("queue.connected", 15.2, agent="alice", waited=15.1))
    assert changed is not None and changed[1].waited == 15.1
    view = call.view(T0 + timedelta(seconds=75))
    assert view["phase"] == "talking" and view["seconds"] == 60.0 and view["waited"] == 15.1
    assert [c.contact_id for c in live.of_agent("alice")] == ["c1"]
    assert live.of_agent("bob") == []
    # Held and resumed by the call control: shown again, still the same call.
    for kind in ("call.held", "call.resumed"):
        changed = live.apply(e(kind, 40, agent="alice"))
        assert changed is not None and changed == ("call", call)
    changed = live.apply(e("agent.finish", 80, agent="alice", channel="voice"))
    assert changed is not None and changed[0] == "ended"
    assert live.of_agent("alice") == []
    assert live.apply(e("call.ended", 81)) is None


def test_an_offer_rung_out_leaves_the_desk_and_the_next_agent_gets_it() -> None:
    e, live = Log(), LiveCalls()
    live.apply(e("contact.join", 0, channel="voice"))
    live.apply(e("contact.offer", 1, agent="alice", channel="voice"))
    # Another agent's no-answer does not touch alice's offer.
    assert live.apply(e("agent.no_answer", 2, agent="bob", channel="voice")) is None
    changed = live.apply(e("agent.no_answer", 9, agent="alice", channel="voice"))
    assert changed is not None and changed[0] == "ended" and changed[1].agent == "alice"
    changed = live.apply(e("contact.offer", 10, agent="bob", channel="voice"))
    assert changed is not None and changed[1].agent == "bob"
    assert live.of_agent("alice") == [] and len(live.of_agent("bob")) == 1
    # The caller hangs up while it rings: the contact's end clears it.
    changed = live.apply(e("call.ended", 11, status="abandoned"))
    assert changed is not None and changed[0] == "ended"
    assert live.of_agent("bob") == []


def test_chat_offers_and_agentless_events_are_not_calls() -> None:
    e, live = Log(), LiveCalls()
    assert live.apply(e("contact.offer", 1, agent="alice", channel="chat")) is None
    assert live.apply(e("agent.login", 1, contact=None, agent="alice", channel="voice")) is None
    assert live.apply(e("contact.offer", 1, contact="c2", channel="voice")) is None
    assert live.of_agent("alice") == []


def test_seen_events_are_not_applied_twice() -> None:
    """The seed from the log and the live stream overlap at start: each event counts once."""
    e, live = Log(), LiveCalls()
    offer = e("contact.offer", 1, agent="alice", channel="callback")
    answered = e("contact.answered", 5, agent="alice", channel="callback")
    live.apply_all([offer, answered])
    assert live.apply(offer) is None and live.apply(answered) is None
    (call,) = live.of_agent("alice")
    assert call.phase == "talking" and call.channel == "callback" and call.waited is None
    changed = live.apply(e("callback.completed", 30, agent="alice"))
    assert changed is not None and changed[0] == "ended"
    # The seed's copy of the call's events, applied late, does not bring it back.
    assert live.apply(offer) is None and live.apply(answered) is None
    assert live.of_agent("alice") == []


def test_contacts_that_are_not_calls_leave_nothing_behind() -> None:
    """Chats, calls that stay in the IVR and ended calls are not remembered (a desk that
    runs for months keeps only the calls in progress and the last ended ones)."""
    e, live = Log(), LiveCalls()
    for n in range(50):
        live.apply(e("chat.message", n, contact=f"chat-{n}"))
        live.apply(e("flow.node", n, contact=f"ivr-{n}"))
    live.apply(e("contact.join", 60, contact="waiting", channel="voice"))
    live.apply(e("contact.leave", 61, contact="waiting", channel="voice"))
    assert live._last_id == {} and live._joined == {}
    for n in range(1_100):
        live.apply(e("contact.offer", n, contact=f"call-{n}", agent="alice", channel="voice"))
        live.apply(e("call.ended", n, contact=f"call-{n}"))
    assert live._last_id == {} and live.of_agent("alice") == []
    assert len(live._ended) == 1_000 and "call-0" not in live._ended


async def test_seed_finds_the_calls_in_progress_in_the_store(store: Any) -> None:
    """A desk reloaded (or a controller restarted) during a call finds it in the log."""
    contact = await store.open_contact("voice", "inbound", "5551234", "100")
    await store.append(contact, "contact.join", {"at": 0.0, "channel": "voice"}, "support")
    await store.append(
        contact, "contact.offer", {"at": 1.0, "channel": "voice"}, "support", "alice"
    )
    await store.append(
        contact, "contact.answered", {"at": 2.0, "channel": "voice"}, "support", "alice"
    )
    ended = await store.open_contact("voice", "inbound", "5559999", "100")
    await store.append(ended, "contact.offer", {"at": 1.0, "channel": "voice"}, "support", "alice")
    await store.close_contact(ended, "completed")
    live = LiveCalls()
    await live.seed(store)
    (call,) = live.of_agent("alice")
    assert call.contact_id == contact and call.phase == "talking"
    assert call.answered_at is not None and call.joined_at is not None


def test_a_caller_handed_over_after_a_consultation_is_the_colleagues_call() -> None:
    """alice consults bob (a consult contact k1 of his), then completes: bob's desk
    shows the caller's contact c1, with alice's note, in place of k1; its end ends it."""
    e, live = Log(), LiveCalls()
    live.apply(e("contact.offer", 1, agent="alice", channel="voice"))
    live.apply(e("queue.connected", 2, agent="alice", waited=1.0))
    live.apply(e("contact.offer", 10, contact="k1", agent="bob", channel="outbound"))
    live.apply(e("contact.answered", 11, contact="k1", agent="bob", channel="outbound"))
    assert [c.contact_id for c in live.of_agent("bob")] == ["k1"]
    note = {"agent": "alice", "to": "agent:bob", "kind": "consult", "note": "VIP", "by": "alice"}
    assert live.apply(e("call.transferred", 20, **note)) is None
    assert live.apply(e("queue.call_ended", 20.1, agent="alice", ended_by="transfer"))
    changed = live.apply(e("queue.connected", 20.2, agent="bob", waited=0.0))
    assert changed is not None and changed[0] == "call"
    call = changed[1]
    assert (call.contact_id, call.agent, call.phase, call.queue) == (
        "c1",
        "bob",
        "talking",
        "support",
    )
    assert call.transferred is not None and call.transferred["note"] == "VIP"
    assert live.of_agent("bob") == [call] and live.of_agent("alice") == []
    assert live.apply(e("call.held", 30, agent="bob")) == ("call", call)
    # The consult contact's offer ends with the call (bob's wrap-up): nothing to show.
    assert live.apply(e("agent.finish", 40, contact="k1", agent="bob", channel="voice")) is None
    changed = live.apply(e("queue.call_ended", 40.1, agent="bob", ended_by="agent"))
    assert changed == ("ended", call) and live.of_agent("bob") == []
