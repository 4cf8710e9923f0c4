"""A chat end to end inside one process: the demo chat flow as text, the queue, an
agent accepting, messages both ways, the agent's close and the CSAT survey."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chat_bridge.agents import DeskError
from tests.unit.chat.conftest import Rig, chat_settings, make_rig


async def to_queue(rig: Rig) -> object:
    customer = await rig.customer(external="visitor-0001")
    await customer.wait_text("choose your language")
    await rig.bridge.customer_message(customer.chat, "1", client_id="c1", choice=True)
    await customer.wait_text("How can we help")
    await rig.bridge.customer_message(customer.chat, "2", client_id="c2", choice=True)
    await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "queued")
    return customer


async def test_chat_through_flow_queue_agent_and_survey(rig: Rig) -> None:
    await rig.routing.login("alice", ["chat"])
    customer = await to_queue(rig)
    menu = next(m for m in customer.messages() if "How can we help" in m["text"])
    assert [b["label"] for b in menu["data"]["buttons"]] == [
        "1. Opening hours",
        "2. Chat with an agent",
        "3. Leave a message",
        "4. Ask a question",
    ]
    await rig.bridge.customer_message(customer.chat, "Hello, my router is broken", client_id="c3")
    offer = await rig.desk_frame("offer")
    assert offer["channel"] == "chat" and offer["queue"] == "support"
    assert offer["card"]["collected"] == {"caller_id": "visitor-0001", "channel_kind": "web"}
    assert offer["card"]["language"] == "en" and offer["card"]["channel"] == "chat"
    assert offer["card"]["customer"]["chat_id"] == "web:visitor-0001"
    contact_id = offer["contact_id"]
    await rig.bridge.hub.accept("alice", contact_id)
    opened = await rig.desk_frame("chat")
    texts = [m["text"] for m in opened["messages"]]
    assert "Hello, my router is broken" in texts  # stored while waiting, delivered now
    await customer.wait_text("Alice Agent has joined")
    await rig.bridge.hub.send("alice", contact_id, "<b>Hi</b><script>x()</script>", "a1")
    said = await customer.wait_text("<b>Hi</b>")
    assert said["from"] == "agent" and said["agent"] == "alice"
    await rig.bridge.customer_message(customer.chat, "thanks", client_id="c4")
    message = await rig.desk_frame("message")
    while message["message"]["text"] != "thanks":
        message = await rig.desk_frame("message")
    with pytest.raises(DeskError, match="unknown wrap-up code"):
        await rig.bridge.hub.close("alice", contact_id, "nonsense")
    await rig.bridge.hub.close("alice", contact_id, "resolved")
    survey = await customer.wait_text("How satisfied were you with this chat")
    assert [b["value"] for b in survey["data"]["buttons"]] == ["1", "2", "3", "4", "5"]
    await rig.bridge.customer_message(customer.chat, "5", client_id="c5", choice=True)
    await customer.wait_text("Thank you for chatting with us")
    await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "closed")
    events = await rig.store.events(contact_id)
    types = [e.type for e in events]
    assert types[0] == "chat.started" and "contact.answered" in types
    closed = [e for e in events if e.type == "chat.closed"]
    assert [e.data["wrap_up"] for e in closed] == ["resolved"]
    survey_events = [e.data for e in events if e.type == "survey.answered"]
    assert survey_events == [{"survey": "csat", "node": "survey", "answers": {"satisfaction": 5}}]
    contact = await rig.store.contact(contact_id)
    assert contact is not None and contact.status == "completed" and contact.channel == "chat"
    assert rig.routing.agent_status("alice")["chat"].load == 0


async def test_resent_message_is_stored_once(rig: Rig) -> None:
    customer = await rig.customer()
    await customer.wait_text("choose your language")
    first = await rig.bridge.customer_message(customer.chat, "1", client_id="same", choice=True)
    again = await rig.bridge.customer_message(customer.chat, "1", client_id="same", choice=True)
    assert first == again
    stored = await rig.bridge.chats.messages(customer.chat.id)
    assert [m.client_id for m in stored].count("same") == 1


async def test_resume_replays_what_was_missed(rig: Rig) -> None:
    customer = await rig.customer()
    await customer.wait_text("choose your language")
    seen = customer.messages()[-1]["seq"]
    await rig.bridge.customer_message(customer.chat, "2", client_id="r1", choice=True)
    await customer.wait_text("Чем мы можем помочь")
    again = await rig.bridge.resume(customer.chat.token)
    assert again is customer.chat
    missed = await rig.bridge.chats.messages(again.id, after=seen)
    assert [m.sender for m in missed][:1] == ["customer"]
    assert "Чем мы можем помочь" in missed[-1].text


async def test_inactivity_reminds_then_closes_and_reopens(tmp_path: Path) -> None:
    async with make_rig(tmp_path, chat_settings(reminder_after=0.2, close_after=0.2)) as rig:
        customer = await rig.customer()
        await customer.wait_text("Are you still there")
        await customer.wait_text("We closed this chat")
        await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "closed")
        first = customer.chat.contact_id
        assert first is not None
        events = await rig.store.events(first)
        assert [e.data["by"] for e in events if e.type == "chat.closed"] == ["inactivity"]
        contact = await rig.store.contact(first)
        assert contact is not None and contact.status == "abandoned"
        await rig.bridge.customer_message(customer.chat, "hello again", client_id="x")
        await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "flow")
        assert customer.chat.contact_id != first
        assert "chat.reopened" in await rig.events(customer.chat.contact_id or "")


async def test_customer_leaving_the_queue_ends_the_contact_abandoned(rig: Rig) -> None:
    await rig.routing.login("alice", ["chat"])
    await rig.routing.pause("alice", "lunch", ["chat"])
    customer = await to_queue(rig)
    contact_id = customer.chat.contact_id or ""
    await rig.bridge.customer_close(customer.chat)
    await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "closed")
    contact = await rig.store.contact(contact_id)
    assert contact is not None and contact.status == "abandoned"
    types = await rig.events(contact_id)
    assert "contact.leave" in types and types.count("chat.closed") == 1
    # The queue's abandoned policy (callback list or message hook) hears of it.
    assert rig.services.abandoned_in == [("support", "chat")]


async def test_agent_transfers_to_another_queue(rig: Rig) -> None:
    await rig.routing.login("alice", ["chat"])
    await rig.routing.login("bob", ["chat"])
    customer = await to_queue(rig)
    offer = await rig.desk_frame("offer")
    await rig.bridge.hub.accept("alice", offer["contact_id"])
    with pytest.raises(DeskError, match="no queue named"):
        await rig.bridge.hub.transfer("alice", offer["contact_id"], "nowhere")
    await rig.bridge.hub.transfer("alice", offer["contact_id"], "sales")
    await customer.wait_text("passing your chat to a colleague")
    mark = len(customer.frames)
    await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "queued", after=mark)
    types = await rig.events(offer["contact_id"])
    assert "chat.transferred" in types
    assert types.count("contact.join") == 2


async def test_email_in_chat_links_the_customer(rig: Rig) -> None:
    known = await rig.store.customer_for_phone("+15550100")
    assert known is not None
    await rig.store.update_customer(known.id, email="Ann@example.com", display_name="Ann")
    customer = await rig.customer(external="visitor-0002")
    await customer.wait_text("choose your language")
    await rig.bridge.customer_message(customer.chat, "I am ann@example.com", client_id="e1")
    assert customer.chat.customer_id == known.id
    contact = await rig.store.contact(customer.chat.contact_id or "")
    assert contact is not None and contact.customer_id == known.id
    # The card: who it is, what the flow collected so far, the earlier call.
    call = await rig.store.open_contact("voice", "inbound", "+15550100", "100", known.id)
    await rig.store.close_contact(call, "completed")
    card = await rig.bridge.hub.card(customer.chat.contact_id or "")
    assert card["customer"]["name"] == "Ann" and card["customer"]["phone"] == "+15550100"
    assert card["collected"]["channel_kind"] == "web" and card["language"] == "en"
    assert [(h["contact_id"], h["channel"]) for h in card["history"]] == [(call, "voice")]


async def test_outside_hours_offers_a_message(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        rig.services.hours_open = False
        customer = await rig.customer()
        await customer.wait_text("choose your language")
        await rig.bridge.customer_message(customer.chat, "1", client_id="h1", choice=True)
        await customer.wait_text("How can we help")
        await rig.bridge.customer_message(customer.chat, "2", client_id="h2", choice=True)
        await customer.wait_text("We are open Monday to Friday")
        menu = await customer.wait_text("leave us a message, or 2 to book a callback")
        assert [b["value"] for b in menu["data"]["buttons"]] == ["1", "2"]
        await rig.bridge.customer_message(customer.chat, "1", client_id="h3", choice=True)
        await customer.wait_text("Please type your message")
        await rig.bridge.customer_message(customer.chat, "Call me tomorrow", client_id="h4")
        await customer.wait_text("your message has been saved")
        await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "closed")
        events = await rig.store.events(customer.chat.contact_id or "")
        saved = [
            e.data for e in events if e.type == "flow.variable" and e.data["name"] == "message"
        ]
        assert saved and saved[0]["value"].startswith("chat-message-")


async def test_silent_customer_with_an_agent_is_reminded_then_let_go(tmp_path: Path) -> None:
    async with make_rig(tmp_path, chat_settings(reminder_after=0.3, close_after=0.3)) as rig:
        await rig.routing.login("alice", ["chat"])
        customer = await rig.customer()
        await customer.wait_text("choose your language")
        await rig.bridge.customer_message(customer.chat, "1", client_id="i1", choice=True)
        await customer.wait_text("How can we help")
        await rig.bridge.customer_message(customer.chat, "2", client_id="i2", choice=True)
        offer = await rig.desk_frame("offer")
        await rig.bridge.hub.accept("alice", offer["contact_id"])
        await rig.bridge.hub.send("alice", offer["contact_id"], "Hello?", "a1")
        await customer.wait_text("Are you still there")
        await customer.wait_text("We closed this chat")
        left = await rig.desk_frame("customer_left")
        assert left["contact_id"] == offer["contact_id"]
        with pytest.raises(DeskError, match="has left"):
            await rig.bridge.hub.send("alice", offer["contact_id"], "Hello??", "a2")
        await rig.bridge.hub.close("alice", offer["contact_id"], "not_resolved")
        await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "closed")
        events = await rig.store.events(offer["contact_id"])
        (closed,) = [e.data for e in events if e.type == "chat.closed"]
        assert closed == {"by": "agent", "wrap_up": "not_resolved", "customer_left": True}
        assert rig.routing.agent_status("alice")["chat"].load == 0
        # Closed and nobody watching it: it leaves memory, and comes back from the store.
        token = customer.chat.token
        customer.detach()
        await asyncio.sleep(0.05)
        assert customer.chat.id not in rig.bridge.live
        again = await rig.bridge.resume(token)
        assert again is not customer.chat and again.state == "closed"
        assert again.seq == customer.chat.seq


async def test_agent_transfers_to_an_agent(rig: Rig) -> None:
    await rig.routing.login("alice", ["chat"])
    customer = await to_queue(rig)
    offer = await rig.desk_frame("offer")
    contact_id = offer["contact_id"]
    await rig.bridge.hub.accept("alice", contact_id)
    with pytest.raises(DeskError, match="cannot transfer to agent 'nobody'"):
        await rig.bridge.hub.transfer("alice", contact_id, to_agent="nobody")
    await rig.bridge.hub.transfer("alice", contact_id, to_agent="bob")
    await customer.wait_text("passing your chat to a colleague")
    # bob is logged out: the chat waits for him, and is not offered back to alice.
    await asyncio.sleep(0.3)
    assert not [f for f in rig.desk if f["type"] == "offer"]
    await rig.routing.login("bob", ["chat"])
    for _ in range(200):
        if any(f["type"] == "offer" for f in rig.bob):
            break
        await asyncio.sleep(0.01)
    (offered,) = [f for f in rig.bob if f["type"] == "offer"]
    assert offered["contact_id"] == contact_id and offered["queue"] == "sales"
    events = await rig.store.events(contact_id)
    (moved,) = [e.data for e in events if e.type == "chat.transferred"]
    assert moved == {"from_agent": "alice", "queue": "sales", "to_agent": "bob"}


async def test_a_sensitive_answer_is_stored_masked(rig: Rig) -> None:
    """A `collect` marked sensitive (a PIN, a card): the flow gets the digits, the
    stored thread and the events only ***."""
    customer = await rig.customer()
    chat = customer.chat
    await customer.wait_text("choose your language")
    chat.sensitive_next = True  # what the text port sets for a sensitive question
    await rig.bridge.customer_message(chat, "4111 1111 1111 1111", client_id="s1")
    stored = await rig.bridge.chats.messages(chat.id)
    mine = next(m for m in stored if m.client_id == "s1")
    assert mine.text == "***" and mine.data["masked"] is True
    assert not any("4111" in m.text for m in stored)
    assert chat.sensitive_next is False
