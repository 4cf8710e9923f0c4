"""A booked callback called by hand (CallbackService.claim / by_hand_ended) on a real
store and routing engine: it leaves its queue while an agent calls it, is completed,
retried or failed by how the call went, and goes back to its place, with no attempt
counted, when the customer was never dialed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hotline.callbacks.rules import CallbackRefused
from hotline.callbacks.service import AttemptResult
from hotline.store import Store
from tests.unit.callbacks.test_callback_service import (
    Lab,
    store,  # noqa: F401 (a fixture)
    until,
)


@pytest.fixture
async def lab(store: Store) -> AsyncIterator[Lab]:  # noqa: F811
    lab = Lab(store, attempts=2)
    await lab.start()  # nobody logged in: booked callbacks wait in the queue
    try:
        yield lab
    finally:
        await lab.stop()


async def booked(lab: Lab, number: str = "5550123") -> str:
    callback = await lab.callbacks.book(number, "support")
    await until(lambda: lab.routing.position(callback.contact_id) is not None)
    return callback.contact_id


async def kinds(lab: Lab, contact_id: str) -> list[str]:
    return [e.type for e in await lab.store.events(contact_id)]


async def test_claimed_it_leaves_its_queue_and_cannot_be_taken_twice(lab: Lab) -> None:
    contact = await booked(lab)
    claimed = await lab.callbacks.claim(contact, "ann")
    assert claimed.contact_id == contact and claimed.number == "5550123"
    assert lab.routing.position(contact) is None  # out of the queue: nobody else gets it
    assert lab.callbacks.agent_of(contact) == "ann"
    with pytest.raises(CallbackRefused, match=f"callback {contact} is being called by ann"):
        await lab.callbacks.claim(contact, "ben")
    with pytest.raises(CallbackRefused, match="under way"):
        await lab.callbacks.cancel(contact, "sue")
    with pytest.raises(LookupError, match="no open callback 'nope'"):
        await lab.callbacks.claim("nope", "ann")


async def test_never_dialed_it_goes_back_to_its_place_with_no_attempt(lab: Lab) -> None:
    first = await booked(lab, "5550111")
    second = await booked(lab, "5550122")
    await lab.callbacks.claim(first, "ann")
    assert lab.routing.position(second) == 1
    await lab.callbacks.by_hand_ended(first, AttemptResult("agent_no_answer", "ann"), dialed=False)
    await until(lambda: lab.routing.position(first) is not None)
    assert [lab.routing.position(c) for c in (first, second)] == [1, 2]  # its place kept
    row = await lab.callbacks.rows.get(first)
    assert row is not None and row.open and row.attempts == 0
    attempts = [e.data for e in await lab.store.events(first) if e.type == "callback.attempt"]
    assert attempts[-1]["event"] == "not_dialed" and attempts[-1]["reason"] == "agent_no_answer"
    assert lab.callbacks.agent_of(first) is None


async def test_completed_by_hand(lab: Lab) -> None:
    contact = await booked(lab)
    await lab.callbacks.claim(contact, "ann")
    await lab.callbacks.by_hand_ended(
        contact, AttemptResult("completed", "ann", {"by_hand": True}), dialed=True
    )
    row = await lab.callbacks.rows.get(contact)
    assert row is not None and row.state == "completed" and row.attempts == 1
    assert (await kinds(lab, contact))[-2:] == ["callback.attempt", "callback.completed"]
    stored = await lab.store.contact(contact)
    assert stored is not None and stored.status == "completed"
    assert lab.routing.position(contact) is None and contact not in lab.callbacks._tasks


async def test_unanswered_by_hand_it_is_retried_then_fails(lab: Lab) -> None:
    contact = await booked(lab)
    await lab.callbacks.claim(contact, "ann")
    await lab.callbacks.by_hand_ended(contact, AttemptResult("no_answer", "ann"), dialed=True)
    row = await lab.callbacks.rows.get(contact)
    assert row is not None and row.open and row.attempts == 1  # one of its two attempts
    assert "callback.scheduled" in await kinds(lab, contact)
    await until(lambda: lab.routing.position(contact) is not None)  # back in line (delay 0)
    await lab.callbacks.claim(contact, "ben")
    await lab.callbacks.by_hand_ended(contact, AttemptResult("busy", "ben"), dialed=True)
    row = await lab.callbacks.rows.get(contact)
    assert row is not None and row.state == "failed" and row.attempts == 2
    assert (await kinds(lab, contact))[-1] == "callback.failed"
