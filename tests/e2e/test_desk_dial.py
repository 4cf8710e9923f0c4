"""Outbound calls from the agent's desk, in a real headless Chromium (desk_dial.js): olga
types a number the dial rules refuse (the refusal is shown, nothing placed), then one
they take: her SIPp phone rings first, the customer's answers, and the desk shows the
live call with the customer's card (after a reload too), whose Call button is refused
while she is on the call (shown in the card). Her queue's booked callback is listed
with "Call now", which calls it: it ends completed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from hotline.store import Store
from tests.e2e.conftest import RunningHotline
from tests.e2e.test_chat_desk import open_desk
from tests.e2e.test_click_to_call import (
    QUEUE,
    outbound_contacts,
    sipp_phone,
    wait_closed,
    wait_event,
)
from tests.e2e.test_desk_call import post

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

T = TypeVar("T")


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from a test that drives Playwright's sync API (whose
    event loop runs in this thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(20_000)
    yield context
    context.close()


async def known_customer(hotline: RunningHotline, number: str, name: str) -> int:
    store = await Store.connect(hotline.database_url)
    try:
        customer = await store.customer_for_phone(number)
        assert customer is not None
        await store.update_customer(customer.id, display_name=name)
        return customer.id
    finally:
        await store.close()


def test_call_from_the_desk_and_a_callback_by_hand(hotline: RunningHotline, context: Any) -> None:
    run(known_customer(hotline, "5557806", "Rita Dial"))
    status, booked = post(hotline, "/api/callbacks", {"number": "5557807", "queue": QUEUE})
    assert status == 201, booked
    callback = booked["callback"]["id"]

    desk = open_desk(context, hotline, "olga")
    listed = desk.locator(f"#dial-callbacks li[data-id='{callback}']")
    listed.wait_for()
    assert "5557807" in listed.inner_text() and listed.locator("button.dial-now").count() == 1
    assert desk.locator("#dial-queue").is_hidden()  # olga calls out for one queue only

    # A number the dial rules refuse: the refusal is shown, nothing is placed.
    before = run(outbound_contacts(hotline))
    desk.locator("#dial-number").fill("12")
    desk.locator("#dial .dial-call").click()
    refusal = desk.locator("#dial-status[role=alert]")
    refusal.wait_for()
    assert "cannot dial 12: '12' has 2 digits" in refusal.inner_text()
    assert run(outbound_contacts(hotline)) == before

    olga = sipp_phone(hotline, "olga", "answer_until_hangup", None, ring=0.5, talk=30, calls=2)
    customer = sipp_phone(hotline, "customer", "answer", None, ring=0.5, talk=8.0, calls=2)
    try:
        desk.locator("#dial-number").fill("555 7806")
        desk.locator("#dial .dial-call").click()
        desk.wait_for_function(
            "() => /Answer your phone/.test(document.querySelector('#dial-status').textContent)"
        )
        desk.wait_for_selector("#call[data-phase=talking]")
        contact_id = desk.locator("#call").get_attribute("data-contact-id") or ""
        # A desk reloaded mid-call finds the outbound call again.
        desk.reload()
        desk.wait_for_selector("#connection[data-connected=true]")
        desk.wait_for_selector(f"#call[data-phase=talking][data-contact-id='{contact_id}']")
        shown = desk.locator("#call").inner_text()
        assert "On a call (outbound)" in shown and "Rita Dial" in shown and QUEUE in shown
        # The card's Call button for Rita's phone: refused while olga is on this call.
        card_call = desk.locator("#card-body .dial-customer-call")
        assert card_call.inner_text() == "Call 5557806"
        card_call.click()
        busy = desk.locator("#card-body .dial-customer .dial-status[role=alert]")
        busy.wait_for()
        assert "olga cannot place a call now" in busy.inner_text()
        closed = run(wait_closed(hotline, contact_id))
        assert (closed.channel, closed.status, closed.destination) == (
            "outbound",
            "completed",
            "5557806",
        )
        assert closed.customer_id is not None

        # The booked callback, called by hand from the list once olga's wrap-up is over.
        desk.wait_for_selector(".channel[data-channel=voice][data-state=available]")
        listed.locator("button.dial-now").click()
        run(wait_event(hotline, callback, "callback.completed", timeout=40))
        assert run(wait_closed(hotline, callback)).status == "completed"
        desk.wait_for_selector(f"#dial-callbacks li[data-id='{callback}']", state="detached")
    finally:
        olga.stop()
        customer.stop()
