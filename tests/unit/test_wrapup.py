"""Wrap-up codes and notes (hotline/contacts/wrapup.py) on a real store (SQLite) and the
real routing engine: codes per queue, a required code holding the agent in wrap-up,
notes on calls and chats, and every refusal with its error, nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hotline.acd import Agent, Channel, Offer, Router
from hotline.acd.presence import PresenceError, change_presence
from hotline.acd.service import RoutingService
from hotline.acd.settings import QueueSettings
from hotline.contacts.wrapup import WrapUpRefused, WrapUps
from hotline.store import Store, sqlite_url
from hotline.store.chats import ChatStore, customer_card
from hotline.web.desk import Desks


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")), retry_for=2.0)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


class Lab:
    def __init__(self, store: Store) -> None:
        self.store = store
        settings = {
            "sales": QueueSettings(wrap_up=60, wrap_up_codes=["sale", "no_sale"]),
            "support": QueueSettings(wrap_up=60, wrap_up_required=True),
        }
        self.router = Router()
        for name, queue in settings.items():
            self.router.add_queue(queue.to_queue(name))
        for name in ("ann", "ben"):
            self.router.add_agent(
                Agent(name, queues=list(settings), capacity={Channel.VOICE: 1, Channel.CHAT: 2})
            )
        self.routing = RoutingService(self.router, store.append, tick_interval=0.01)
        self.wrap_ups = WrapUps(store, self.routing, settings, ["resolved", "follow_up"])

    async def call(self, agent: str, queue: str, channel: str = "voice") -> str:
        """A contact answered by `agent` and over: the agent is in wrap-up."""
        customer = await self.store.customer_for_phone("5551234")
        assert customer is not None
        contact = await self.store.open_contact(channel, "inbound", "5551234", "100", customer.id)
        ticket = await self.routing.enqueue(contact, channel, queue)
        async for item in ticket:
            if isinstance(item, Offer):
                assert item.agent == agent
                await self.routing.ringing(item)
                await self.routing.accepted(item)
                break
        await self.routing.finished(agent, contact)
        return contact

    def state(self, agent: str, channel: Channel = Channel.VOICE) -> str:
        return str(self.routing.agent_status(agent)[channel].state)

    async def logged(self, contact: str, kind: str) -> list[dict[str, Any]]:
        return [e.data for e in await self.store.events(contact) if e.type == kind]


@pytest.fixture
async def lab(store: Store) -> AsyncIterator[Lab]:
    lab = Lab(store)
    await lab.routing.start()
    await lab.routing.login("ann")
    try:
        yield lab
    finally:
        lab.wrap_ups.close()
        await lab.routing.stop()


async def test_codes_per_queue_and_the_shared_list_by_default(lab: Lab) -> None:
    assert lab.wrap_ups.codes("sales") == ["sale", "no_sale"]
    assert lab.wrap_ups.codes("support") == ["resolved", "follow_up"]
    assert lab.wrap_ups.codes("nowhere") == ["resolved", "follow_up"]
    assert lab.wrap_ups.required("support") and not lab.wrap_ups.required("sales")


async def test_an_optional_code_is_logged_and_leaves_the_wrap_up_alone(lab: Lab) -> None:
    contact = await lab.call("ann", "sales")
    assert lab.state("ann") == "wrap_up"
    # Ready works without a code: the queue does not require one.
    done = await lab.wrap_ups.wrap_up(contact, "sale", "ann", "ann")
    assert done == {"contact_id": contact, "wrap_up": "sale", "wrap_up_ended": False}
    assert lab.state("ann") == "wrap_up"
    # Corrected: the last code counts.
    await lab.wrap_ups.wrap_up(contact, "no_sale", "ann", "ann")
    found = await lab.wrap_ups.notes(contact, "ann")
    assert found["wrap_up"] == "no_sale"
    logged = await lab.logged(contact, "contact.wrapup")
    assert [d["code"] for d in logged] == ["sale", "no_sale"]
    assert logged[0] == {"code": "sale", "by": "ann", "channel": "voice", "required": False}
    await change_presence(lab.routing, "ann", "ready")
    assert lab.state("ann") == "available"


async def test_a_required_code_holds_the_agent_in_wrap_up_until_given(lab: Lab) -> None:
    contact = await lab.call("ann", "support")
    assert lab.wrap_ups.pending("ann") == contact
    for channels in (None, ["voice"]):
        with pytest.raises(PresenceError, match="queue support requires a wrap-up code"):
            await change_presence(lab.routing, "ann", "ready", channels=channels)
    assert lab.state("ann") == "wrap_up"
    done = await lab.wrap_ups.wrap_up(contact, "resolved", "ann", "ann")
    assert done["wrap_up_ended"] is True
    assert lab.state("ann") == "available"
    assert lab.wrap_ups.pending("ann") is None
    (logged,) = await lab.logged(contact, "contact.wrapup")
    assert logged["required"] is True


async def test_a_supervisor_codes_any_call_and_it_ends_the_agents_wrap_up(lab: Lab) -> None:
    contact = await lab.call("ann", "support")
    done = await lab.wrap_ups.wrap_up(contact, "follow_up", "sue", None)
    assert done["wrap_up_ended"] is True and lab.state("ann") == "available"
    (event,) = [e for e in await lab.store.events(contact) if e.type == "contact.wrapup"]
    assert event.agent == "ann" and event.data["by"] == "sue"


async def test_bad_wrap_ups_are_refused_and_nothing_is_stored(lab: Lab) -> None:
    contact = await lab.call("ann", "sales")
    before = len(await lab.store.events(contact))
    cases: list[tuple[str, object, str | None, int, str]] = [
        (
            contact,
            "resolved",
            "ann",
            400,
            "unknown wrap-up code 'resolved' for queue sales; one of: sale, no_sale",
        ),
        (contact, "", "ann", 400, "wrapup: code is missing"),
        (contact, ["sale"], "ann", 400, "wrapup: code is missing"),
        (contact, "sale", "ben", 403, f"contact {contact} is not yours (handled by ann)"),
        ("no-such-contact", "sale", "ann", 404, "no contact no-such-contact"),
    ]
    for contact_id, code, agent, status, message in cases:
        with pytest.raises(WrapUpRefused) as refused:
            await lab.wrap_ups.wrap_up(contact_id, code, agent or "sue", agent)
        assert refused.value.status == status and str(refused.value).startswith(message)
    unanswered = await lab.store.open_contact("voice", "inbound", "5550000", "100")
    with pytest.raises(WrapUpRefused, match="not handled by an agent: nothing to wrap up"):
        await lab.wrap_ups.wrap_up(unanswered, "sale", "sue", None)
    await lab.routing.end_wrap_up("ann")
    chat = await lab.call("ann", "sales", "chat")
    with pytest.raises(WrapUpRefused, match="is a chat: its wrap-up code is given when"):
        await lab.wrap_ups.wrap_up(chat, "sale", "ann", "ann")
    assert len(await lab.store.events(contact)) == before
    for contact_id in (unanswered, chat):
        assert await lab.logged(contact_id, "contact.wrapup") == []


async def test_notes_on_calls_and_chats_shown_in_the_customers_history(lab: Lab) -> None:
    call = await lab.call("ann", "sales")
    await lab.wrap_ups.wrap_up(call, "sale", "ann", "ann")
    note = await lab.wrap_ups.add_note(call, "Wants <b>the red one</b>", "ann", "ann")
    assert note["text"] == "Wants <b>the red one</b>" and note["by"] == "ann"
    await lab.wrap_ups.add_note(call, "Called back by the shop", "sue", None)
    await lab.routing.end_wrap_up("ann")
    chat = await lab.call("ann", "sales", "chat")
    await lab.wrap_ups.add_note(chat, "Asked about delivery", "ann", "ann")
    # A transfer's note is a note of the call too (an empty one is not).
    for note in ("Needs the billing team", ""):
        transfer = {"agent": "ann", "to": "number:5550199", "kind": "blind", "note": note}
        await lab.store.append(call, "call.transferred", {**transfer, "by": "ann"}, "sales", "ann")
    found = await lab.wrap_ups.notes(call, "ann")
    assert found["wrap_up"] == "sale"
    assert [(n["text"], n["by"]) for n in found["notes"]] == [
        ("Wants <b>the red one</b>", "ann"),
        ("Called back by the shop", "sue"),
        ("Needs the billing team", "ann"),
    ]
    assert found["notes"][-1]["transfer"] == "number:5550199"
    # Both contacts are the same customer's: the card of a new one shows them with
    # their codes and notes.
    customer = await lab.store.customer_for_phone("5551234")
    assert customer is not None
    newest = await lab.store.open_contact("voice", "inbound", "5551234", "100", customer.id)
    card = await customer_card(lab.store, ChatStore(lab.store), newest)
    history = {h["contact_id"]: h for h in card["history"]}
    assert history[call]["wrap_up"] == "sale"
    assert history[call]["notes"][0]["text"] == "Wants <b>the red one</b>"
    assert [n["text"] for n in history[chat]["notes"]] == ["Asked about delivery"]
    assert card["notes"] == []


async def test_bad_notes_are_refused_and_nothing_is_stored(lab: Lab) -> None:
    call = await lab.call("ann", "sales")
    cases: list[tuple[str, object, str | None, int, str]] = [
        (call, "", "ann", 400, "notes: text is missing"),
        (call, "   ", "ann", 400, "notes: text is missing"),
        (call, 42, "ann", 400, "notes: text is missing"),
        (call, "x" * 2001, "ann", 400, "notes: a note is at most 2000 characters, got 2001"),
        (call, "mine now", "ben", 403, f"contact {call} is not yours (handled by ann)"),
        ("nope", "hello", "ann", 404, "no contact nope"),
        ("nope", "hello", None, 404, "no contact nope"),
    ]
    for contact_id, text, agent, status, message in cases:
        with pytest.raises(WrapUpRefused) as refused:
            await lab.wrap_ups.add_note(contact_id, text, agent or "sue", agent)
        assert refused.value.status == status and str(refused.value).startswith(message)
    with pytest.raises(WrapUpRefused, match="is not yours"):
        await lab.wrap_ups.notes(call, "ben")
    assert await lab.logged(call, "contact.note") == []


def test_a_required_code_needs_a_wrap_up_time() -> None:
    with pytest.raises(ValueError, match="wrap_up_required needs a wrap-up time"):
        QueueSettings(wrap_up_required=True)
    with pytest.raises(ValueError, match="at least 1 item"):
        QueueSettings(wrap_up_codes=[])
    with pytest.raises(ValueError, match="String should match pattern"):
        QueueSettings(wrap_up_codes=["<b>"])


async def test_a_desk_reopened_in_wrap_up_shows_the_code_still_owed(lab: Lab) -> None:
    """After a reload the desk no longer has the ended call: the call whose required code
    the agent owes comes back as a wrap-up form, until the code is given."""
    desks = Desks(
        lab.store,
        lab.routing,
        None,
        agents={"ann": "Ann"},
        pause_reasons=[],
        wrap_up_codes=["resolved"],
        queues=["sales", "support"],
    )
    desks.wrap_ups = lab.wrap_ups
    optional = await lab.call("ann", "sales")
    assert await desks.calls_of("ann") == []  # sales does not require a code
    await lab.routing.end_wrap_up("ann")
    contact = await lab.call("ann", "support")
    (frame,) = await desks.calls_of("ann")
    assert frame["type"] == "call" and frame["card"]["contact_id"] == contact
    call = frame["call"]
    assert (call["contact_id"], call["phase"], call["queue"]) == (contact, "wrap_up", "support")
    assert call["wrap_up_codes"] == ["resolved", "follow_up"] and call["wrap_up_required"]
    await lab.wrap_ups.wrap_up(contact, "resolved", "ann", "ann")
    assert await desks.calls_of("ann") == []
    assert await lab.logged(optional, "contact.wrapup") == []
