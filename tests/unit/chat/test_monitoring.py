"""Supervisors on live chats (chat_bridge/monitoring.py) on the chat rig (a real store,
routing engine and bridge): reading ends when the agent closes, a whisper reaches the
agent's desk only, a take-over is refused with the reason until the supervisor can
take it, then opens on their desk at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat_bridge.monitoring import ChatMonitors
from hotline.calls import BadCommand, Conflict, NotFound
from tests.unit.chat.conftest import Rig
from tests.unit.chat.test_bridge import to_queue


async def talking(rig: Rig) -> tuple[Any, str]:
    await rig.routing.login("alice", ["chat"])
    customer = await to_queue(rig)
    offer = await rig.desk_frame("offer")
    await rig.bridge.hub.accept("alice", offer["contact_id"])
    await rig.desk_frame("chat")
    return customer, offer["contact_id"]


async def until(check: Any) -> Any:
    for _ in range(300):
        found = check()
        if found:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError("never")


async def test_reading_ends_when_the_agent_closes(rig: Rig) -> None:
    monitors = ChatMonitors(rig.bridge.hub, rig.store, rig.routing)
    with pytest.raises(NotFound, match="contact nope has no live chat with an agent"):
        await monitors.read("nope", "sue", print)
    customer, contact = await talking(rig)
    frames: list[dict[str, Any]] = []
    stop = await monitors.read(contact, "sue", frames.append)
    assert frames[0]["type"] == "chat" and frames[0]["agent"] == "alice"
    await rig.bridge.customer_message(customer.chat, "is anyone there?", client_id="m1")
    await until(lambda: any(f["type"] == "message" for f in frames))
    await rig.bridge.hub.close("alice", contact, "resolved")
    ended = await until(lambda: [f for f in frames if f["type"] == "ended"])
    assert ended[0]["reason"] == "chat_ended"
    await stop()  # after the end: logged once
    events = [e for e in await rig.store.events(contact) if e.type == "monitor.ended"]
    assert [e.data["reason"] for e in events] == ["chat_ended"]
    assert monitors.readers == {}


async def test_a_whisper_reaches_the_agent_only(rig: Rig) -> None:
    monitors = ChatMonitors(rig.bridge.hub, rig.store, rig.routing)
    customer, contact = await talking(rig)
    for text, says in (("", "non-empty"), (None, "non-empty"), ("x" * 2001, "at most 2000")):
        with pytest.raises(BadCommand, match=says):
            await monitors.whisper(contact, "sue", text)
    note = await monitors.whisper(contact, "sue", "  be patient  ")
    assert note["text"] == "be patient" and note["private"] is True
    shown = await rig.desk_frame("whisper")
    assert shown["note"] == note and shown["contact_id"] == contact
    await asyncio.sleep(0.05)
    assert not any("be patient" in str(f) for f in customer.frames)
    stored = await rig.bridge.chats.messages(customer.chat.id)
    assert not any("be patient" in m.text for m in stored)
    # With the thread on the agent's desk after a reload.
    again = await rig.bridge.hub.history("alice", contact, after=0)
    assert again["notes"] == [note]


async def test_take_over_is_refused_until_the_supervisor_can_then_accepted(rig: Rig) -> None:
    monitors = ChatMonitors(rig.bridge.hub, rig.store, rig.routing)
    customer, contact = await talking(rig)
    with pytest.raises(Conflict, match="sue has no desk to take the chat to"):
        await monitors.take_over(contact, "sue", None)
    with pytest.raises(Conflict, match="already on alice's desk"):
        await monitors.take_over(contact, "alice", "alice")
    with pytest.raises(Conflict, match="bob cannot take the chat now"):
        await monitors.take_over(contact, "bob", "bob")  # logged out
    assert rig.bridge.hub.open["alice"].get(contact) is not None  # untouched
    await rig.routing.login("bob", ["chat"])
    moved = await monitors.take_over(contact, "bob", "bob")
    assert moved == {"contact_id": contact, "agent": "bob", "from_agent": "alice"}
    told = await rig.desk_frame("taken_over")
    assert told["by"] == "bob"
    opened = await until(
        lambda: [f for f in rig.bob if f["type"] == "chat" and f["contact_id"] == contact]
    )
    assert any(m["from"] == "customer" for m in opened[0]["messages"])  # the whole thread
    assert contact in rig.bridge.hub.open["bob"] and contact not in rig.bridge.hub.open["alice"]
    await customer.wait_text("has joined")
    types = await rig.events(contact)
    assert types.index("chat.taken_over") < types.index("chat.transferred")


async def test_the_agent_is_told_where_the_config_says_so(rig: Rig) -> None:
    """tell_agent: the agent's desk hears when a supervisor starts and stops reading;
    without it, nothing is said."""
    quiet = ChatMonitors(rig.bridge.hub, rig.store, rig.routing)
    _, contact = await talking(rig)
    stop = await quiet.read(contact, "sue", print)
    await stop()
    assert not [f for f in rig.desk if f["type"] == "monitored"]

    told = ChatMonitors(rig.bridge.hub, rig.store, rig.routing, tell_agent=True)
    stop = await told.read(contact, "sue", print)
    on = await rig.desk_frame("monitored")
    assert on == {
        "type": "monitored",
        "channel": "chat",
        "contact_id": contact,
        "on": True,
        "mode": "read",
        "supervisor": "sue",
    }
    await stop()
    off = await rig.desk_frame("monitored")
    assert (off["on"], off["supervisor"], off["contact_id"]) == (False, "sue", contact)


async def test_a_reading_whose_page_is_gone_ends_logged_as_such(rig: Rig) -> None:
    """Ended where the chat runs because the page's web process stopped checking it
    (chat_bridge/cluster_monitoring.py): logged with that reason, the agent told the
    supervisor left."""
    monitors = ChatMonitors(rig.bridge.hub, rig.store, rig.routing, tell_agent=True)
    _, contact = await talking(rig)
    frames: list[dict[str, Any]] = []
    stop = await monitors.read(contact, "sue", frames.append)
    await rig.desk_frame("monitored")
    await stop("reader_gone")
    assert frames[-1] == {"type": "ended", "contact_id": contact, "reason": "reader_gone"}
    off = await rig.desk_frame("monitored")
    assert (off["on"], off["supervisor"]) == (False, "sue")
    events = [e for e in await rig.store.events(contact) if e.type == "monitor.ended"]
    assert [(e.data["reason"], e.data["supervisor"]) for e in events] == [("reader_gone", "sue")]
    assert monitors.readers == {}
