"""A callback's contact is opened with its customer, so the agent's screen pop shows
who is called back (not an empty card with the hotline's own number)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hotline.store import Store
from tests.unit.callbacks.test_callback_service import Lab


@pytest.fixture
async def lab(store: Store) -> AsyncIterator[Lab]:
    made = Lab(store)
    await made.start()
    try:
        yield made
    finally:
        await made.stop()


async def test_a_callback_from_a_queue_is_the_waiting_customers(lab: Lab) -> None:
    caller = await lab.store.customer_for_phone("5550111")
    assert caller is not None
    call = await lab.store.open_contact("voice", "inbound", "5550111", "100", customer_id=caller.id)
    await lab.routing.enqueue(call, "voice", "support")
    # Called back at another number: still the caller who asked.
    callback = await lab.callbacks.book_from_queue(call, "5550199", "support")
    contact = await lab.store.contact(callback.contact_id)
    assert contact is not None and contact.customer_id == caller.id


async def test_a_callback_booked_without_a_contact_is_its_numbers_customer(lab: Lab) -> None:
    callback = await lab.callbacks.book("5550122", "support", source="api")
    contact = await lab.store.contact(callback.contact_id)
    customer = await lab.store.customer_for_phone("5550122", create=False)
    assert contact is not None and customer is not None
    assert contact.customer_id == customer.id
    assert customer.phone is not None and customer.phone.endswith("5550122")
