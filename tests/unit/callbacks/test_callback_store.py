"""The callbacks table on SQLite and PostgreSQL: booked with the number's history
checked in the same transaction (two controllers booking one number at once get one
callback), states, and open callbacks read back in queue order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from hotline.store import Store
from hotline.store.callbacks import CallbackStore, NewCallback


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database: two controllers."""
    first = await Store.connect(db_url, retry_for=5.0)
    await first.migrate()
    second = await Store.connect(db_url, retry_for=5.0)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


class Refused(Exception):
    pass


def only_one_per_number(pending: tuple[str, ...], last_hour: int) -> None:
    if pending:
        raise Refused(f"already waiting in {pending}")


async def new(store: Store, number: str, entered: datetime, queue: str = "support") -> NewCallback:
    contact = await store.open_contact("callback", "outbound", "100", number)
    return NewCallback(contact, None, queue, number, "api", 0, "en", entered)


async def test_two_controllers_book_one_number_once(stores: tuple[Store, Store]) -> None:
    now = datetime.now(UTC)
    one, two = (CallbackStore(s) for s in stores)
    for round_ in range(5):
        number = f"555000{round_}"
        requests = [await new(stores[0], number, now), await new(stores[1], number, now)]

        async def book(store: CallbackStore, request: NewCallback) -> object:
            try:
                return await store.book(request, only_one_per_number)
            except Refused as refused:
                return refused

        results = await asyncio.gather(book(one, requests[0]), book(two, requests[1]))
        assert sorted(type(r).__name__ for r in results) == ["Callback", "Refused"]
    assert len(await one.open_callbacks()) == 5


async def test_open_callbacks_in_queue_order_and_final_states(
    stores: tuple[Store, Store],
) -> None:
    store = stores[0]
    rows = CallbackStore(store)
    now = datetime.now(UTC)
    # Booked out of order: the one whose caller entered first comes first.
    late = await rows.book(await new(store, "5550002", now), only_one_per_number)
    early = await rows.book(
        await new(store, "5550001", now - timedelta(minutes=3)), only_one_per_number
    )
    tie = await rows.book(await new(store, "5550003", now), only_one_per_number)
    assert [c.number for c in await rows.open_callbacks()] == ["5550001", "5550002", "5550003"]
    assert early.entered_at == now - timedelta(minutes=3)
    dialing = await rows.update(late.contact_id, state="dialing", attempts=1)
    assert dialing is not None and (dialing.state, dialing.attempts) == ("dialing", 1)
    done = await rows.finish_if_open(late.contact_id, "completed", "completed")
    assert done is not None and done.state == "completed" and not done.open
    # A second ending (a cancel racing the completion) changes nothing.
    assert await rows.finish_if_open(late.contact_id, "cancelled", "cancelled by sue") is None
    assert (await rows.get(late.contact_id)).state == "completed"  # type: ignore[union-attr]
    assert [c.number for c in await rows.open_callbacks()] == ["5550001", "5550003"]
    assert [c.number for c in await rows.open_callbacks("elsewhere")] == []
    assert tie.seq > early.seq
