"""The wallboard's live contacts: who, queue, wait and duration from the event log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hotline.store.records import LoggedEvent
from hotline.web.live_contacts import LiveContacts

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC).timestamp()


def event(n: int, at: float, type_: str, contact: str, **fields: Any) -> LoggedEvent:
    queue, agent = fields.pop("queue", None), fields.pop("agent", None)
    ts = datetime.fromtimestamp(T0 + at, UTC)
    return LoggedEvent(n, contact, ts, type_, queue, agent, fields)


CALL = {"dialed": "100", "channel": "x", "via": "ari"}


def test_a_call_waits_then_talks_then_goes() -> None:
    live = LiveContacts()
    live.replay(
        [
            event(
                1, 0, "call.arrived", "c1", caller="5551234", dialed="100", channel="x", via="ari"
            ),
            event(2, 5, "contact.join", "c1", queue="support", channel="voice"),
            event(3, 6, "chat.started", "c2", session="s", kind="telegram"),
            event(4, 7, "contact.join", "c2", queue="chat", channel="chat"),
        ]
    )
    rows = {r["contact_id"]: r for r in live.view(T0 + 12, {"alice": "Alice A."})}
    assert rows["c1"] == {
        "contact_id": "c1",
        "channel": "voice",
        "who": "5551234",
        "queue": "support",
        "agent": None,
        "agent_name": None,
        "state": "waiting",
        "wait": 7.0,
        "duration": None,
        "monitors": [],
    }
    assert rows["c2"]["who"] == "telegram chat" and rows["c2"]["channel"] == "chat"

    live.apply(event(5, 20, "contact.answered", "c1", queue="support", agent="alice"))
    live.apply(event(6, 20, "agent.accept", "c1", agent="alice", channel="voice"))
    (c1,) = [r for r in live.view(T0 + 50, {"alice": "Alice A."}) if r["contact_id"] == "c1"]
    assert (c1["state"], c1["agent_name"], c1["wait"], c1["duration"]) == (
        "talking",
        "Alice A.",
        15.0,
        30.0,
    )
    # Longest with the agent first.
    assert [r["contact_id"] for r in live.view(T0 + 50)] == ["c1", "c2"]

    live.apply(event(7, 60, "call.ended", "c1", reason="caller"))
    assert [r["contact_id"] for r in live.view(T0 + 61)] == ["c2"]
    live.apply(event(7, 62, "chat.closed", "c2"))  # an id already seen: ignored
    assert [r["contact_id"] for r in live.view(T0 + 63)] == ["c2"]


def test_a_contact_still_in_its_flow_is_not_listed() -> None:
    live = LiveContacts()
    live.apply(
        event(1, 0, "call.arrived", "c1", caller="5550000", dialed="1", channel="x", via="ari")
    )
    assert live.view(T0 + 3) == []


def test_who_monitors_a_contact_now() -> None:
    """monitor.started/changed/ended: each supervisor on the contact and their mode."""
    live = LiveContacts()
    live.replay(
        [
            event(1, 0, "call.arrived", "c1", caller="5551234", **CALL),
            event(2, 1, "contact.join", "c1", queue="support", channel="voice"),
            event(3, 4, "agent.accept", "c1", agent="alice", channel="voice"),
            event(
                4,
                9,
                "monitor.started",
                "c1",
                agent="alice",
                supervisor="sue",
                mode="listen",
                phone="2901",
            ),
            event(5, 10, "chat.started", "c2", session="s", kind="web"),
            event(6, 10, "contact.join", "c2", queue="chat", channel="chat"),
            event(7, 11, "agent.accept", "c2", agent="bob", channel="chat"),
            event(
                8, 12, "monitor.started", "c2", agent="bob", supervisor="tom", mode="read", phone=""
            ),
            event(
                9, 13, "monitor.started", "c2", agent="bob", supervisor="sue", mode="read", phone=""
            ),
        ]
    )

    def monitors() -> dict[str, list[dict[str, str]]]:
        return {r["contact_id"]: r["monitors"] for r in live.view(T0 + 20)}

    assert monitors() == {
        "c1": [{"supervisor": "sue", "mode": "listen"}],
        "c2": [{"supervisor": "sue", "mode": "read"}, {"supervisor": "tom", "mode": "read"}],
    }
    live.apply(
        event(
            10,
            14,
            "monitor.changed",
            "c1",
            agent="alice",
            supervisor="sue",
            mode="barge",
            previous="listen",
        )
    )
    live.apply(
        event(
            11,
            15,
            "monitor.ended",
            "c2",
            agent="bob",
            supervisor="tom",
            reason="stopped",
            seconds=3.0,
            modes={"read": 3.0},
        )
    )
    assert monitors() == {
        "c1": [{"supervisor": "sue", "mode": "barge"}],
        "c2": [{"supervisor": "sue", "mode": "read"}],
    }
    live.apply(
        event(
            12,
            16,
            "monitor.ended",
            "c1",
            agent="alice",
            supervisor="sue",
            reason="hung_up",
            seconds=7.0,
            modes={"listen": 1.0, "barge": 6.0},
        )
    )
    assert monitors()["c1"] == []
