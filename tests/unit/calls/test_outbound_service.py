"""The web's entry to outbound calls (hotline/calls/outbound_service.py) on a real store
(SQLite), with the voice side standing in: whom a `customer:<id>` or a number reaches,
who calls as whom, and a callback called by hand — every refusal leaves nothing
placed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hotline.acd import Agent, Channel, Queue, Router
from hotline.acd.service import RoutingService
from hotline.callbacks.service import CallbackService
from hotline.callbacks.settings import CallbackConfig, QueueCallback
from hotline.calls.errors import BadCommand, Conflict, NotFound, NotYours
from hotline.calls.outbound import OutboundPlan, OutboundResult, OutboundRules
from hotline.calls.outbound_service import OutboundCalls
from hotline.store import Store, sqlite_url
from hotline.store.chats import ChatStore

RULES = OutboundRules(
    caller_ids={"support": "5550100", "sales": ""},
    agent_queues={"ann": ["support"], "ben": ["sales"]},
    dialing=CallbackConfig(dial_template="PJSIP/{number}@trunk", caller_id="5550000"),
    own_numbers=("100",),
)


class Placer:
    """The voice side: records each call placed; `busy` agents are refused."""

    def __init__(self) -> None:
        self.placed: list[dict[str, Any]] = []
        self.busy: set[str] = set()
        self.refuse_on_place = False

    def check(self, agent: str) -> None:
        if agent in self.busy:
            raise Conflict(f"{agent} cannot place a call now: agent {agent} is busy")

    async def place(self, plan: OutboundPlan, **kw: Any) -> str:
        self.check(plan.agent)
        if self.refuse_on_place:
            raise Conflict(f"{plan.agent} cannot place a call now: taken meanwhile")
        self.placed.append({"plan": plan, **kw})
        return kw.get("contact_id") or f"out{len(self.placed)}"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def callbacks(store: Store) -> AsyncIterator[CallbackService]:
    router = Router()
    router.add_queue(Queue("support"))
    router.add_agent(Agent("ann", queues=["support"], capacity={Channel.VOICE: 1}))
    routing = RoutingService(router, store.append)
    service = CallbackService(
        store, routing, RULES.dialing or CallbackConfig(), {"support": QueueCallback()}
    )

    class NoDialer:
        async def attempt(self, *args: Any) -> Any:
            raise AssertionError("no automatic attempt here: nobody takes callbacks")

    await service.start(NoDialer())
    try:
        yield service
    finally:
        await service.stop()


async def test_a_customer_by_id_is_called_on_their_phone(store: Store) -> None:
    placer = Placer()
    calls = OutboundCalls(RULES, placer, store)
    rita = await store.customer_for_phone("5551234")
    assert rita is not None
    await store.update_customer(rita.id, display_name="Rita")
    contact = await calls.call({"to": f"customer:{rita.id}"}, asker="ann", by="ann")
    assert contact == "out1"
    (placed,) = placer.placed
    assert placed["plan"] == OutboundPlan(
        "ann", "support", "5551234", "PJSIP/5551234@trunk", "5550100"
    )
    assert (placed["customer_id"], placed["customer_name"]) == (rita.id, "Rita")
    assert placed["to"] == f"customer:{rita.id}" and placed["by"] == "ann"


async def test_a_number_of_a_known_customer_is_linked_to_them(store: Store) -> None:
    placer = Placer()
    calls = OutboundCalls(RULES, placer, store)
    known = await store.customer_for_phone("5551234")
    assert known is not None
    await calls.call({"to": "number:555-1234"}, asker="ann", by="ann")
    await calls.call({"to": "number:5559999"}, asker="ann", by="ann")
    assert [p["customer_id"] for p in placer.placed] == [known.id, None]
    assert await store.customer_for_phone("5559999", create=False) is None  # not created


async def test_refusals_place_nothing(store: Store) -> None:
    placer = Placer()
    placer.busy.add("ben")
    calls = OutboundCalls(RULES, placer, store)
    chatter = await ChatStore(store).customer_for_chat_id("web:abc")  # no phone on record
    refusals = [
        ({"to": "customer:77"}, "ann", NotFound, "no customer 77"),
        ({"to": f"customer:{chatter.id}"}, "ann", Conflict, "has no phone number on record"),
        ({"to": "number:5551234", "agent": "ben"}, "ann", NotYours, "ann cannot call as ben"),
        ({"to": "number:5551234", "queue": "sales"}, "ann", NotYours, "not in queue sales"),
        ({"to": "number:5551234"}, None, BadCommand, "name the agent"),
        ({"to": "number:5551234", "agent": "ben"}, None, Conflict, "ben cannot place a call"),
        ({"to": "number:100"}, "ann", BadCommand, "has 3 digits"),
    ]
    for body, asker, error, says in refusals:
        with pytest.raises(error, match=says):
            await calls.call(body, asker=asker, by="x")
    assert placer.placed == []


async def test_a_callback_called_by_hand(store: Store, callbacks: CallbackService) -> None:
    placer = Placer()
    calls = OutboundCalls(RULES, placer, store, callbacks)
    booked = await callbacks.book("5557777", "support")
    with pytest.raises(NotFound, match="no callback 'nope'"):
        await calls.call_callback("nope", None, asker="ann", by="ann")
    with pytest.raises(NotYours, match="agent ben is not in queue support"):
        await calls.call_callback(booked.contact_id, None, asker="ben", by="ben")
    with pytest.raises(BadCommand, match="takes only 'agent'"):
        await calls.call_callback(booked.contact_id, {"to": "x"}, asker="ann", by="ann")
    assert placer.placed == [] and callbacks.agent_of(booked.contact_id) is None

    # Taken meanwhile by the voice side: back in its queue, nothing counted.
    placer.refuse_on_place = True
    with pytest.raises(Conflict, match="taken meanwhile"):
        await calls.call_callback(booked.contact_id, None, asker="ann", by="ann")
    row = await callbacks.rows.get(booked.contact_id)
    assert row is not None and row.open and row.attempts == 0
    assert callbacks.agent_of(booked.contact_id) is None

    placer.refuse_on_place = False
    contact = await calls.call_callback(booked.contact_id, None, asker="ann", by="ann")
    assert contact == booked.contact_id
    (placed,) = placer.placed
    assert placed["contact_id"] == booked.contact_id and placed["to"] == "number:5557777"
    assert callbacks.agent_of(booked.contact_id) == "ann"
    # Talked long enough: completed.
    await placed["on_end"](OutboundResult("answered", "ann", talk_seconds=30.0, ended_by="agent"))
    row = await callbacks.rows.get(booked.contact_id)
    assert row is not None and row.state == "completed" and row.attempts == 1
    with pytest.raises(Conflict, match="is completed, not open"):
        await calls.call_callback(booked.contact_id, None, asker="ann", by="ann")


async def test_a_callback_answered_only_briefly_is_a_failed_attempt(
    store: Store, callbacks: CallbackService
) -> None:
    placer = Placer()
    calls = OutboundCalls(RULES, placer, store, callbacks)
    booked = await callbacks.book("5557778", "support")
    await calls.call_callback(booked.contact_id, {"agent": "ann"}, asker=None, by="sue")
    (placed,) = placer.placed
    await placed["on_end"](OutboundResult("answered", "ann", talk_seconds=1.0, ended_by="customer"))
    row = await callbacks.rows.get(booked.contact_id)
    assert row is not None and row.open and row.attempts == 1  # retried later
    failed = [e.data for e in await store.events(booked.contact_id) if e.type == "callback.attempt"]
    assert failed[-1]["event"] == "failed" and failed[-1]["reason"] == "short"
