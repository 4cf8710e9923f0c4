"""A waiting chat is told what a waiting caller is (hotline/waiting.py), and a chat's
callback keeps its place in the queue through the callback service's booking from a
queue place, as a caller's does."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hotline.acd.settings import QueueSettings
from hotline.waiting import wait_minutes
from tests.unit.chat.conftest import Customer, Rig, make_rig

#: A callback offered once the *estimated* wait reaches a minute.
OFFERING = {
    "support": QueueSettings.model_validate({"callback": {"key": "5", "offer_after": 60}}),
    "sales": QueueSettings(),
}


async def queued(rig: Rig, visitor: str, kind: str = "web") -> Customer:
    customer = await rig.customer(kind, external=visitor)
    await customer.wait_text("choose your language")
    await rig.bridge.customer_message(customer.chat, "1", client_id=f"{visitor}-1", choice=True)
    await customer.wait_text("How can we help")
    await rig.bridge.customer_message(customer.chat, "2", client_id=f"{visitor}-2", choice=True)
    await customer.wait_for(lambda f: f["type"] == "state" and f["state"] == "queued")
    return customer


def estimate(rig: Rig, seconds: float) -> None:
    """The routing engine estimates this wait for every waiting contact."""

    def place(contact_id: str) -> tuple[int | None, float | None]:
        position = rig.routing.position(contact_id)
        return position, seconds if position else None

    rig.routing.place = place  # type: ignore[method-assign]


async def test_a_chat_callback_keeps_its_place_and_its_customer(tmp_path: Path) -> None:
    async with make_rig(tmp_path, queues=OFFERING) as rig:
        estimate(rig, 90)
        await rig.routing.login("alice", ["chat"])
        await rig.routing.pause("alice", "lunch", ["chat"])
        first, second = await queued(rig, "v-first"), await queued(rig, "v-second")
        await queued(rig, "v-third")
        chat_id = second.chat.contact_id or ""
        ticket = rig.routing.ticket(chat_id)
        assert ticket is not None
        waited = time.monotonic() - ticket.contact.entered_at
        entered = datetime.now(UTC).timestamp() - waited
        # Offered on arrival: the estimated wait (90 s) passes offer_after (60 s).
        offer = await second.wait_text("call you back instead")
        assert [b["value"] for b in offer["data"]["buttons"]] == ["callback", "wait"]
        await asyncio.sleep(0.3)  # the place is kept, not taken again now
        await rig.bridge.customer_message(second.chat, "callback", client_id="k1", choice=True)
        await second.wait_text("phone number we should call")
        await rig.bridge.customer_message(second.chat, "12", client_id="k2")
        refused = await second.wait_text("that number cannot be called back")
        assert refused["data"]["reason"] == "invalid"
        await rig.bridge.customer_message(second.chat, "+1 555 0123", client_id="k3")
        await second.wait_text("We will call you back at +15550123")
        await second.wait_for(lambda f: f["type"] == "state" and f["state"] == "closed")

        [callback] = await rig.callbacks.rows.open_callbacks()
        assert (callback.source, callback.origin_contact_id) == ("chat", chat_id)
        assert callback.priority == ticket.contact.priority
        assert abs(callback.entered_at.timestamp() - entered) < 0.2
        # Second in the queue: behind the first chat, ahead of the third.
        assert rig.routing.position(callback.contact_id) == 2
        assert rig.routing.position(first.chat.contact_id or "") == 1
        # The callback's contact is the customer's: the agent's screen pop shows them.
        contact = await rig.store.contact(callback.contact_id)
        chat_contact = await rig.store.contact(chat_id)
        assert contact is not None and chat_contact is not None
        assert contact.customer_id is not None
        assert contact.customer_id == chat_contact.customer_id
        # Served by the callback: completed, not abandoned, no abandoned policy.
        assert chat_contact.status == "completed"
        assert rig.services.abandoned_in == []
        events = await rig.store.events(chat_id)
        booked = [e.data for e in events if e.type == "queue.callback"]
        assert booked == [
            {"queue": "support", "callback": callback.contact_id, "number": "+15550123"}
        ]
        assert [e.data["outcome"] for e in events if e.type == "flow.outcome"].count(
            "callback"
        ) == 1


async def test_no_offer_while_the_estimated_wait_is_short(tmp_path: Path) -> None:
    async with make_rig(tmp_path, queues=OFFERING) as rig:
        estimate(rig, 59)
        await rig.routing.login("alice", ["chat"])
        await rig.routing.pause("alice", "lunch", ["chat"])
        customer = await queued(rig, "v-short")
        await asyncio.sleep(0.5)
        assert not [t for t in customer.texts() if "call you back" in t]
        contact_id = customer.chat.contact_id or ""
        told = [e.data for e in await rig.store.events(contact_id) if e.type == "queue.announced"]
        assert not any(d.get("callback_offer") for d in told)


def minutes_told(frames: list[dict[str, Any]]) -> list[int]:
    return [f["minutes"] for f in frames if f["type"] == "queue" and f.get("minutes")]


async def test_the_wait_is_told_in_the_one_rounding_on_every_chat(tmp_path: Path) -> None:
    # 70 s: rounded to the nearest minute it would be 1; a caller is told 2.
    queues = {
        "support": QueueSettings.model_validate(
            {"announcements": {"position_every": 30, "eta_every": 30}}
        ),
        "sales": QueueSettings(),
    }
    async with make_rig(tmp_path, queues=queues) as rig:
        estimate(rig, 70)
        await rig.routing.login("alice", ["chat"])
        await rig.routing.pause("alice", "lunch", ["chat"])
        web = await queued(rig, "v-web")
        messenger = await queued(rig, "t-1", kind="telegram")
        await messenger.wait_text("Estimated wait: about 2 min")
        assert minutes_told(web.frames)[-1] == wait_minutes(70) == 2
        # The widget shows position and wait live; messengers are told them.
        assert not [t for t in web.texts() if "Estimated wait" in t]
        told = [
            e.data
            for e in await rig.store.events(messenger.chat.contact_id or "")
            if e.type == "queue.announced"
        ]
        assert told[0] == {"position": 2, "eta_minutes": 2}


async def test_the_queues_periodic_messages_in_their_chat_wording(tmp_path: Path) -> None:
    queues = {
        "support": QueueSettings.model_validate(
            {"announcements": {"periodic": ["queue_thanks"], "periodic_every": 0.2}}
        ),
        "sales": QueueSettings(),
    }
    async with make_rig(tmp_path, queues=queues) as rig:
        await rig.routing.login("alice", ["chat"])
        await rig.routing.pause("alice", "lunch", ["chat"])
        customer = await queued(rig, "v-periodic")
        await customer.wait_text("An agent will be with you shortly")
        contact_id = customer.chat.contact_id or ""
        told = [e.data for e in await rig.store.events(contact_id) if e.type == "queue.announced"]
        assert {"periodic": "queue_thanks"} in told
