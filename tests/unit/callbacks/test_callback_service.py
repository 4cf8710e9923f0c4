"""The callback service on a real store (SQLite) and the real routing engine: places
kept among live callers, one attempt per reserved agent, retries, scheduling, limits,
restore after a restart. The dialer is a script standing in for ARI behind the same
interface: it answers each offer as the test says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.acd import Agent, Channel, Offer, Queue, Router
from hotline.acd.service import Finished, RoutingService, Ticket
from hotline.callbacks.rules import CallbackRefused
from hotline.callbacks.service import AttemptResult, CallbackService
from hotline.callbacks.settings import CallbackConfig, QueueCallback
from hotline.flows.hours import Schedule
from hotline.store import Store, sqlite_url
from hotline.store.callbacks import Callback


class ScriptedDialer:
    """Takes each offer at once; the customer's side answers from `outcomes` in turn
    (completed when they run out). Records every attempt and how many ran at once."""

    def __init__(self, routing: RoutingService, outcomes: list[str] | None = None) -> None:
        self.routing = routing
        self.outcomes = list(outcomes or [])
        self.dialed: list[tuple[str, str, int]] = []  # (number, agent, attempt)
        self.hold = asyncio.Event()
        self.hold.set()
        self.running = 0
        self.most = 0
        #: Contacts in the order they were offered (a test may share it with callers).
        self.served: list[str] = []

    async def attempt(self, callback: Callback, ticket: Ticket, settings, dialing):
        async for item in ticket:
            if isinstance(item, Finished):
                if item.outcome == "left":
                    return AttemptResult("cancelled")
                if item.outcome != "answered":
                    return AttemptResult("requeue")
            if isinstance(item, Offer):
                self.served.append(callback.contact_id)
                await self.routing.ringing(item)
                await self.routing.accepted(item)
                self.running += 1
                self.most = max(self.most, self.running)
                try:
                    number = await dialing(item.agent)
                    self.dialed.append((callback.number, item.agent, number))
                    await self.hold.wait()
                    outcome = self.outcomes.pop(0) if self.outcomes else "completed"
                finally:
                    self.running -= 1
                    await self.routing.finished(item.agent, callback.contact_id)
                return AttemptResult(outcome, item.agent)
        return AttemptResult("requeue")


class Lab:
    def __init__(self, store: Store, **queue: object) -> None:
        self.store = store
        self.router = Router()
        self.router.add_queue(Queue("support"))
        for name in ("ann", "ben", "cat"):
            self.router.add_agent(
                Agent(name, queues=["support"], capacity={Channel.VOICE: 1, Channel.CALLBACK: 1})
            )
        self.routing = RoutingService(self.router, store.append, tick_interval=0.01)
        self.settings = QueueCallback(key="5", retry_delay=0, **queue)  # type: ignore[arg-type]
        self.callbacks = CallbackService(
            store,
            self.routing,
            CallbackConfig(max_pending_per_number=3, max_requests_per_hour=4),
            {"support": self.settings},
            schedules={"never": Schedule(weekly={})},
            own_numbers=["100", "5550100"],
        )
        self.dialer = ScriptedDialer(self.routing)

    async def start(self) -> None:
        await self.routing.start()
        await self.callbacks.start(self.dialer)

    async def stop(self) -> None:
        await self.callbacks.stop()
        await self.routing.stop()

    async def login(self, *agents: str) -> None:
        for agent in agents:
            await self.routing.login(agent)

    async def events(self, kind: str) -> list:
        end = datetime.now(UTC) + timedelta(minutes=1)
        start = end - timedelta(hours=1)
        return await self.store.events_between(start, end, [kind])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.connect(sqlite_url(str(tmp_path / "hotline.db")), retry_for=2.0)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def lab(store: Store) -> AsyncIterator[Lab]:
    lab = Lab(store)
    await lab.start()
    try:
        yield lab
    finally:
        await lab.stop()


async def voice_contact(store: Store, number: str) -> str:
    return await store.open_contact("voice", "inbound", number, "100")


async def until(check, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_callback_keeps_the_callers_place_among_live_callers(lab: Lab) -> None:
    ids = [await voice_contact(lab.store, f"55500{i}1") for i in range(4)]
    tickets = {}
    for contact in ids:
        tickets[contact] = await lab.routing.enqueue(contact, "voice", "support")
        await asyncio.sleep(0.01)  # distinct entry times
    # The second caller books a callback and hangs up: the entry takes their place.
    callback = await lab.callbacks.book_from_queue(ids[1], "5550199", "support")
    assert lab.routing.ticket(ids[1]) is None
    assert [lab.routing.position(c) for c in (ids[0], callback.contact_id, ids[2], ids[3])] == [
        1,
        2,
        3,
        4,
    ]
    # Nobody overtakes at equal priority: one agent serves them all in arrival order.
    served: list[str] = []

    async def take(contact: str) -> None:
        async for item in tickets[contact]:
            if isinstance(item, Offer):
                served.append(contact)
                await lab.routing.ringing(item)
                await lab.routing.accepted(item)
                await lab.routing.finished(item.agent, contact)

    voice = [asyncio.create_task(take(c)) for c in (ids[0], ids[2], ids[3])]
    lab.dialer.served = served
    await lab.login("ann")
    await asyncio.wait_for(asyncio.gather(*voice), 5)
    assert served == [ids[0], callback.contact_id, ids[2], ids[3]]
    overtakes = sum(
        1
        for i, a in enumerate(served)
        for b in served[i + 1 :]
        if [ids[0], callback.contact_id, ids[2], ids[3]].index(a)
        > [ids[0], callback.contact_id, ids[2], ids[3]].index(b)
    )
    assert overtakes == 0
    await until(lambda: lab.dialer.dialed)
    assert lab.dialer.dialed == [("5550199", "ann", 1)]
    # The call is not abandoned: it left the queue for the callback, which completed.
    await until(lambda: callback.contact_id not in lab.callbacks._tasks)
    row = await lab.callbacks.rows.get(callback.contact_id)
    assert row is not None and row.state == "completed" and row.attempts == 1
    kinds = [e.type for e in await lab.store.events(callback.contact_id)]
    assert kinds[0] == "callback.requested"
    assert "contact.join" in kinds and kinds[-1] == "callback.completed"
    contact = await lab.store.contact(callback.contact_id)
    assert contact is not None and contact.status == "completed" and contact.channel == "callback"


async def test_failed_attempts_are_retried_then_the_outcome_is_final(store: Store) -> None:
    lab = Lab(store, attempts=3)
    lab.dialer.outcomes = ["no_answer", "busy", "short"]
    await lab.start()
    try:
        await lab.login("ann")
        callback = await lab.callbacks.book("5550123", "support")
        await until(lambda: callback.contact_id not in lab.callbacks._tasks)
    finally:
        await lab.stop()
    assert [d[2] for d in lab.dialer.dialed] == [1, 2, 3]
    row = await lab.callbacks.rows.get(callback.contact_id)
    assert row is not None and row.state == "failed" and row.outcome == "short"
    events = await store.events(callback.contact_id)
    failed = [e.data["reason"] for e in events if e.data.get("event") == "failed"]
    assert failed == ["no_answer", "busy", "short"]
    retries = [e.data["reason"] for e in events if e.type == "callback.scheduled"]
    assert retries == ["retry after no_answer", "retry after busy"]
    assert events[-1].type == "callback.failed" and events[-1].data["attempt"] == 3


async def test_a_retry_succeeds(store: Store) -> None:
    lab = Lab(store, attempts=3)
    lab.dialer.outcomes = ["no_answer"]
    await lab.start()
    try:
        await lab.login("ann")
        callback = await lab.callbacks.book("5550123", "support")
        await until(lambda: callback.contact_id not in lab.callbacks._tasks)
    finally:
        await lab.stop()
    row = await lab.callbacks.rows.get(callback.contact_id)
    assert row is not None and (row.state, row.attempts) == ("completed", 2)


async def test_no_burst_one_attempt_per_reserved_agent(lab: Lab) -> None:
    lab.dialer.hold.clear()  # every call goes on until the test lets them end
    booked = [await lab.callbacks.book(f"555012{i}", "support") for i in range(5)]
    await lab.login("ann", "ben", "cat")
    await until(lambda: len(lab.dialer.dialed) == 3)
    await asyncio.sleep(0.1)
    # Three agents free at once: three calls, no more, the oldest callbacks first.
    assert lab.dialer.most == 3 and len(lab.dialer.dialed) == 3
    assert sorted(d[0] for d in lab.dialer.dialed) == [c.number for c in booked[:3]]
    lab.dialer.hold.set()
    await until(lambda: len(lab.dialer.dialed) == 5)
    assert lab.dialer.most == 3


async def test_a_scheduled_callback_waits_for_its_time(lab: Lab) -> None:
    await lab.login("ann")
    at = datetime.now(UTC) + timedelta(seconds=1.5)
    callback = await lab.callbacks.book("5550123", "support", scheduled_for=at)
    assert callback.scheduled_for == at
    await asyncio.sleep(0.1)
    assert datetime.now(UTC) < at, "the machine was too slow to check before the time"
    assert lab.routing.position(callback.contact_id) is None and not lab.dialer.dialed
    await until(lambda: lab.dialer.dialed)
    scheduled = await lab.store.events(callback.contact_id)
    assert scheduled[1].type == "callback.scheduled"
    assert scheduled[1].data["scheduled_for"] == at.isoformat()


async def test_bad_input_is_refused_and_nothing_is_booked(lab: Lab) -> None:
    cases = {
        "12": "'12' has 2 digits; a callback number has 5 to 15",
        "555-CALL": "'555-CALL' is not a phone number (digits only)",
        "5550100": "5550100 is the hotline's own number: it cannot be called back",
    }
    for number, message in cases.items():
        with pytest.raises(CallbackRefused) as caught:
            await lab.callbacks.book(number, "support")
        assert str(caught.value) == message
    with pytest.raises(CallbackRefused, match="queue 'sales' takes no callbacks"):
        await lab.callbacks.book("5550123", "sales")
    assert await lab.callbacks.pending() == []


async def test_nothing_booked_twice_and_a_flood_is_limited(lab: Lab) -> None:
    # Two requests for the same number at the same moment: one is booked.
    results = await asyncio.gather(
        lab.callbacks.book("5550123", "support"),
        lab.callbacks.book("555 0123", "support"),
        return_exceptions=True,
    )
    booked = [r for r in results if isinstance(r, Callback)]
    errors = [r for r in results if isinstance(r, CallbackRefused)]
    assert len(booked) == 1 and len(errors) == 1
    assert str(errors[0]) == "5550123 already has a callback waiting in queue support"
    # A flood from one number: cancelled bookings count towards the hourly limit too.
    await lab.callbacks.cancel(booked[0].contact_id, by="test")
    for _ in range(3):
        again = await lab.callbacks.book("5550123", "support")
        await lab.callbacks.cancel(again.contact_id, by="test")
    with pytest.raises(CallbackRefused) as caught:
        await lab.callbacks.book("5550123", "support")
    assert str(caught.value) == "5550123 booked 4 callbacks in the last hour (at most 4)"
    refusals = await lab.events("callback.refused")
    assert refusals and all(e.data["number"] == "5550123" for e in refusals)
    assert len(await lab.callbacks.pending()) == 0


async def test_cancel(lab: Lab) -> None:
    callback = await lab.callbacks.book("5550123", "support")
    await until(lambda: lab.routing.position(callback.contact_id) == 1)
    cancelled = await lab.callbacks.cancel(callback.contact_id, by="sue")
    assert cancelled.state == "cancelled" and cancelled.outcome == "cancelled by sue"
    assert lab.routing.position(callback.contact_id) is None
    with pytest.raises(LookupError):
        await lab.callbacks.cancel(callback.contact_id, by="sue")
    await lab.login("ann")
    await asyncio.sleep(0.1)
    assert lab.dialer.dialed == []


async def test_restart_restores_every_open_callback_in_order(store: Store) -> None:
    first = Lab(store)
    await first.start()
    numbers = ["5550301", "5550302", "5550303"]
    for number in numbers:
        await first.callbacks.book(number, "support")
        await asyncio.sleep(0.01)
    await first.stop()  # as if the controller died: nothing was dialed

    second = Lab(store)
    await second.start()
    try:
        pending = await second.callbacks.pending()
        assert [p["number"] for p in pending] == numbers
        assert [p["position"] for p in pending] == [1, 2, 3]
        await second.login("ann")
        await until(lambda: len(second.dialer.dialed) == 3)
        assert [d[0] for d in second.dialer.dialed] == numbers
    finally:
        await second.stop()


async def test_an_interrupted_attempt_is_restored_as_pending(store: Store) -> None:
    first = Lab(store)
    first.dialer.hold.clear()
    await first.start()
    await first.login("ann")
    callback = await first.callbacks.book("5550123", "support")
    await until(lambda: first.dialer.dialed)
    assert (await first.callbacks.rows.get(callback.contact_id)).state == "dialing"
    await first.callbacks.stop()  # killed mid-call
    await first.routing.stop()

    second = Lab(store)
    await second.start()
    try:
        row = await second.callbacks.rows.get(callback.contact_id)
        assert row is not None and (row.state, row.attempts) == ("pending", 1)
        await second.login("ann")
        await until(lambda: second.dialer.dialed)
        assert second.dialer.dialed == [("5550123", "ann", 2)]
    finally:
        await second.stop()


async def test_abandoned_callers_go_to_a_callback_list(store: Store) -> None:
    lab = Lab(store, abandoned={"action": "callback"})
    await lab.start()
    try:
        contact = await voice_contact(store, "5550777")
        await lab.callbacks.abandoned(contact, "5550777", "support", 42.0)
        (added,) = await lab.events("callback.abandoned_added")
        assert added.contact_id == contact and added.data["via"] == "callback"
        (pending,) = await lab.callbacks.pending()
        assert pending["number"] == "5550777" and pending["source"] == "abandoned"
        assert pending["origin_contact_id"] == contact
        # An anonymous caller cannot be added: logged, nothing booked.
        await lab.callbacks.abandoned(contact, "anonymous", "support", 3.0)
        refused = (await lab.events("callback.abandoned_added"))[-1]
        assert refused.data["refused"] == "invalid"
        assert len(await lab.callbacks.pending()) == 1
    finally:
        await lab.stop()


async def test_abandoned_callers_through_a_message_hook(store: Store) -> None:
    lab = Lab(store, abandoned={"action": "hook", "url": "http://127.0.0.1:9/sms"})
    posted: list[tuple[str, dict]] = []

    async def notify(url: str, data: dict) -> int:
        posted.append((url, data))
        return 202

    lab.callbacks.notify = notify
    await lab.start()
    try:
        contact = await voice_contact(store, "5550777")
        await lab.callbacks.abandoned(contact, "5550777", "support", 12.5)
    finally:
        await lab.stop()
    assert posted == [
        (
            "http://127.0.0.1:9/sms",
            {
                "number": "5550777",
                "queue": "support",
                "waited": 12.5,
                "channel": "voice",
                "contact_id": contact,
            },
        )
    ]
    (added,) = await lab.events("callback.abandoned_added")
    assert added.data["via"] == "hook" and added.data["status"] == 202
    assert await lab.callbacks.pending() == []
