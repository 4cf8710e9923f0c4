"""Chats across a controller crash: the plan for each open chat from its events (pure),
and a whole take-over on a real SQLite store and routing engine — the first bridge is
abandoned without closing anything, as a SIGKILL leaves it."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chat_bridge.messengers import Messengers
from chat_bridge.recovery import ChatRecovery
from chat_bridge.resume import Presence, Resume, chat_presence, plan_chat, request_of
from hotline.acd.model import Channel
from tests.unit.chat.conftest import Customer, Rig, make_rig

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass
class Ev:
    type: str
    ts: datetime = T0
    queue: str | None = None
    agent: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def join(at: float, waited: float = 0.0, **data: Any) -> Ev:
    base = {"channel": "chat", "priority": 0, "skills": {}, "timeout": None, "waited": waited}
    return Ev("contact.join", T0 + timedelta(seconds=at), "support", data={**base, **data})


# ---- the plan (pure) -------------------------------------------------------------------


def test_a_waiting_chat_goes_back_to_its_queue_with_entry_time_and_priority() -> None:
    events = [
        Ev("chat.started"),
        Ev("flow.language", data={"language": "ru"}),
        join(10, priority=3, skills={"agent.bob": 1}, timeout="never"),
        Ev("contact.offer", T0 + timedelta(seconds=11), "support", "alice"),
        # a previous restart put it back: the entry time stays the first one
        join(50, waited=40.0, priority=3, skills={"agent.bob": 1}, timeout="never"),
    ]
    events[-1].type = "contact.restore"
    plan = plan_chat("c1", events)
    assert plan.how is Resume.QUEUED and plan.language == "ru"
    assert plan.place is not None
    assert plan.place.entered == T0 + timedelta(seconds=10)
    assert plan.place.channel is Channel.CHAT and plan.place.priority == 3
    request = request_of(plan.place, "en")
    assert (request.queue, request.priority, dict(request.skills)) == (
        "support",
        3,
        {"agent.bob": 1},
    )
    assert request.max_wait == math.inf


def test_an_answered_chat_stays_with_its_agent() -> None:
    events = [join(0), Ev("contact.answered", T0 + timedelta(seconds=5), "support", "alice")]
    plan = plan_chat("c1", events)
    assert plan.how is Resume.AGENT
    assert plan.place is not None and plan.place.agent == "alice"
    assert plan.place.answered == T0 + timedelta(seconds=5)


def test_a_chat_mid_flow_or_after_its_agent_restarts_its_flow() -> None:
    assert plan_chat("c1", [Ev("chat.started"), Ev("flow.node")]).how is Resume.RESTART
    finished = [
        join(0),
        Ev("contact.answered", T0, "support", "alice"),
        Ev("agent.finish", T0, "support", "alice"),
    ]
    assert plan_chat("c1", finished).how is Resume.RESTART  # in the survey
    left = [join(0), Ev("contact.leave", T0, "support")]
    assert plan_chat("c1", left).how is Resume.RESTART
    voice = [join(0, channel="voice")]
    assert plan_chat("c1", voice).how is Resume.RESTART


def agent_event(action: str, to: str, channel: str = "chat", reason: str | None = None) -> Ev:
    data = {"channel": channel, "from": "x", "to": to}
    if reason:
        data["reason"] = reason
    return Ev(f"agent.{action}", agent="alice", data=data)


def test_chat_presence_from_the_agents_events() -> None:
    assert chat_presence([]) is None
    assert chat_presence([agent_event("login", "available")]) == Presence()
    busy = [agent_event("login", "available"), agent_event("accept", "busy")]
    assert chat_presence(busy) == Presence()
    lunch = [agent_event("login", "available"), agent_event("pause", "paused", reason="lunch")]
    assert chat_presence(lunch) == Presence(paused="lunch")
    cut = [agent_event("login", "paused", reason="unreachable")]
    assert chat_presence(cut) == Presence()  # the desk was closed, not the agent's pause
    out = [agent_event("login", "available"), agent_event("logout", "offline")]
    assert chat_presence(out) is None
    voice_only = [agent_event("login", "available", channel="voice")]
    assert chat_presence(voice_only) is None
    reachable = Ev("agent.reachable", agent="alice", data={"channel": "chat"})
    assert chat_presence([*lunch, reachable]) == Presence(paused="lunch")


# ---- a take-over ------------------------------------------------------------------------


async def to_queue(rig: Rig, visitor: str) -> Customer:
    customer = await rig.customer(external=visitor)
    await customer.wait_text("choose your language")
    await rig.bridge.customer_message(customer.chat, "1", client_id=f"{visitor}-1", choice=True)
    await customer.wait_text("How can we help")
    await rig.bridge.customer_message(customer.chat, "2", client_id=f"{visitor}-2", choice=True)
    await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "queued")
    return customer


def killed(rig: Rig) -> None:
    """The bridge dies without ending anything (its tasks are cancelled on exit, as the
    process would vanish): no chat.closed, no contact closed, no session closed."""

    rig.bridge.stopping = True


async def test_chats_carry_on_after_a_crash(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as old:
        await old.routing.login("alice", ["chat"])
        talking = await to_queue(old, "v-talk")
        offer = await old.desk_frame("offer")
        await old.bridge.hub.accept("alice", offer["contact_id"])
        await old.bridge.hub.send("alice", offer["contact_id"], "Hi, Alice here", "a1")
        await old.routing.pause("alice", "lunch", ["chat"])
        first = await to_queue(old, "v-first")
        second = await to_queue(old, "v-second")
        await old.bridge.customer_message(first.chat, "still here", client_id="f3")
        midflow = await old.customer(external="v-mid")
        await midflow.wait_text("choose your language")
        before = {
            c.chat.id: [m.seq for m in await old.bridge.chats.messages(c.chat.id)]
            for c in (talking, first, second, midflow)
        }
        ids = {c.chat.id: c.chat.contact_id for c in (talking, first, second, midflow)}
        tokens = {c.chat.id: c.chat.token for c in (talking, first, second, midflow)}
        killed(old)

    async with make_rig(tmp_path) as new:
        report = await ChatRecovery(new.bridge, ["alice", "bob"]).run()
        assert (report.waiting, report.talking, report.restarted, report.lost) == (2, 1, 1, 0)
        assert report.agents == 1
        bridge = new.bridge
        # With the agent: same contact, alice's tab and capacity, her pause kept.
        chat = await bridge.resume(tokens[talking.chat.id])
        assert chat.state == "agent" and chat.agent == "alice"
        assert chat.contact_id == ids[talking.chat.id]
        status = new.routing.agent_status("alice")[Channel.CHAT]
        assert status.load == 1 and status.state == "paused" and status.reason == "lunch"
        [tab] = [f for f in await bridge.hub.snapshot("alice") if f["type"] == "chat"]
        assert [m["seq"] for m in tab["messages"]] == before[talking.chat.id]
        assert "Hi, Alice here" in [m["text"] for m in tab["messages"]]
        # Waiting: same contacts, back in the queue in their order, no "closed".
        frames: dict[str, list[dict[str, Any]]] = {}
        for who in (first, second):
            chat = await bridge.resume(tokens[who.chat.id])
            assert chat.state == "queued" and chat.contact_id == ids[who.chat.id]
            frames[who.chat.id] = []
            bridge.attach(chat, frames[who.chat.id].append)
        assert new.routing.position(ids[first.chat.id] or "") == 1
        assert new.routing.position(ids[second.chat.id] or "") == 2
        await new.routing.unpause("alice", ["chat"])
        offered = await new.desk_frame("offer")
        assert offered["contact_id"] == ids[first.chat.id]  # the older one first
        await bridge.hub.accept("alice", offered["contact_id"])
        await bridge.hub.send("alice", offered["contact_id"], "Sorry for the wait", "a2")
        await bridge.customer_message(
            await bridge.resume(tokens[first.chat.id]), "still here", client_id="f3"
        )  # resent after the crash: stored once
        stored = await bridge.chats.messages(first.chat.id)
        seqs = [m.seq for m in stored]
        assert seqs[: len(before[first.chat.id])] == before[first.chat.id]
        assert seqs == list(range(1, len(seqs) + 1))
        assert [m.client_id for m in stored].count("f3") == 1
        assert stored[-1].text == "Sorry for the wait"
        seen = [f for fs in frames.values() for f in fs]
        assert not any(f["type"] == "state" and f["state"] == "closed" for f in seen)
        events = await new.store.events(ids[first.chat.id] or "")
        restored = [e for e in events if e.type == "contact.restore"]
        assert len(restored) == 1 and restored[0].data["waited"] > 0
        # Mid-flow: the flow again for the same thread, as a new contact; the old is lost.
        chat = await bridge.resume(tokens[midflow.chat.id])
        assert chat.state == "flow" and chat.contact_id != ids[midflow.chat.id]
        old_contact = await new.store.contact(ids[midflow.chat.id] or "")
        assert old_contact is not None and old_contact.status == "lost"
        logged = await new.store.events(old_contact.id)
        closed = [e.data for e in logged if e.type == "chat.closed"]
        reason = "controller_restart"
        assert closed == [{"by": reason, "status": "lost", "reason": reason}]
        texts = [m.text for m in await bridge.chats.messages(midflow.chat.id)]
        assert texts.count(texts[0]) == 2  # the welcome again, the first one kept


async def test_a_restored_chat_ends_when_its_agent_closes(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as old:
        await old.routing.login("alice", ["chat"])
        customer = await to_queue(old, "v-1")
        offer = await old.desk_frame("offer")
        await old.bridge.hub.accept("alice", offer["contact_id"])
        token, contact_id = customer.chat.token, offer["contact_id"]
        killed(old)

    async with make_rig(tmp_path) as new:
        await ChatRecovery(new.bridge, ["alice"]).run()
        chat = await new.bridge.resume(token)
        frames: list[dict[str, Any]] = []
        new.bridge.attach(chat, frames.append)
        await new.bridge.hub.close("alice", contact_id, "resolved")
        again = Customer(chat, frames)
        await again.wait_text("Thank you for chatting with us")
        await again.wait_for(lambda f: f["type"] == "state" and f["state"] == "closed")
        contact = await new.store.contact(contact_id)
        assert contact is not None and contact.status == "completed"
        assert new.routing.agent_status("alice")[Channel.CHAT].load == 0
        types = [e.type for e in await new.store.events(contact_id)]
        assert types.count("chat.closed") == 1


async def test_an_active_chat_contact_without_an_open_session_ends_lost(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        stray = await rig.store.open_contact("chat", "inbound", "web:x", "chat")
        report = await ChatRecovery(rig.bridge, []).run()
        assert report.lost == 1
        contact = await rig.store.contact(stray)
        assert contact is not None and contact.status == "lost"


async def test_a_messenger_chat_gets_its_outbox_back(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as old:
        chat, _ = await old.bridge.messenger_session("webhook", "user-7")
        await old.bridge.customer_message(chat, "1", client_id="m1", choice=True)
        await old.bridge.customer_message(chat, "2", client_id="m2", choice=True)
        for _ in range(200):
            if chat.state == "queued":
                break
            await asyncio.sleep(0.01)
        assert chat.state == "queued"
        killed(old)

    async with make_rig(tmp_path) as new:
        settings = new.bridge.settings
        messengers = Messengers(new.bridge, None, settings.telegram, settings.webhook)  # type: ignore[arg-type]
        sent: list[str] = []

        async def deliver(_chat: object, frame: dict[str, Any]) -> None:
            sent.append(frame["text"])

        messengers.webhook_send = deliver  # type: ignore[method-assign]
        new.bridge.on_adopt = messengers.carry_on
        report = await ChatRecovery(new.bridge, ["alice"]).run()
        assert report.waiting == 1
        await new.routing.login("alice", ["chat"])
        offer = await new.desk_frame("offer")
        await new.bridge.hub.accept("alice", offer["contact_id"])
        for _ in range(200):
            if any("has joined" in text for text in sent):
                break
            await asyncio.sleep(0.01)
        assert any("Alice Agent has joined" in text for text in sent), sent
        await messengers.close()


async def test_a_graceful_stop_leaves_chats_open_for_the_next_start(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as old:
        await old.routing.login("alice", ["chat"])
        await old.routing.pause("alice", "lunch", ["chat"])
        customer = await to_queue(old, "v-graceful")
        contact_id = customer.chat.contact_id or ""
    # make_rig's exit stopped the bridge as the controller's shutdown does.
    async with make_rig(tmp_path) as new:
        contact = await new.store.contact(contact_id)
        assert contact is not None and contact.status == "active"
        assert "chat.closed" not in [e.type for e in await new.store.events(contact_id)]
        report = await ChatRecovery(new.bridge, ["alice"]).run()
        assert (report.waiting, report.lost) == (1, 0)
        chat = await new.bridge.resume(customer.chat.token)
        assert chat.state == "queued" and chat.contact_id == contact_id
