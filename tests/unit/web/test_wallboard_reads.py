"""The wallboard's store reads: one read of each contact (with its customer) a call,
shared by the names and the outbound-call check, none for a contact's late events."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from hotline.reports import ReportSettings
from hotline.store import Store
from hotline.store.records import Contact, Customer
from hotline.web.live_contacts import LiveContacts
from hotline.web.wallboard import Wallboard


def _count_reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count each contact's reads; a read of a contact or customer row by itself counts
    as a read of `("row", key)` (the wallboard catches errors, so it is counted, not
    raised)."""
    reads: Counter[str] = Counter()
    read = store.contact_and_customer

    async def counted(contact_id: str) -> tuple[Contact, Customer | None] | None:
        reads[contact_id] += 1
        return await read(contact_id)

    async def refused(key: object) -> None:
        reads[f"row {key}"] += 1

    monkeypatch.setattr(store, "contact_and_customer", counted)
    monkeypatch.setattr(store, "contact", refused)
    monkeypatch.setattr(store, "customer", refused)
    return reads


async def _settled(wallboard: Wallboard) -> None:
    """Wait until the live contacts have read every contact seen."""
    await _read(wallboard.contacts)


def _row(wallboard: Wallboard, contact_id: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = wallboard.view()["contacts"]
    (row,) = [r for r in rows if r["contact_id"] == contact_id]
    return row


def _offered(wallboard: Wallboard, queue: str) -> int:
    rows = [q for q in wallboard.view()["queues"] if q["queue"] == queue]
    return sum(int(q["offered"]) for q in rows)


async def test_an_inbound_call_is_read_once_for_its_name_and_not_after_its_end(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    wallboard = Wallboard(store, None, ReportSettings())
    await wallboard.start()
    try:
        reads = _count_reads(store, monkeypatch)
        customer = await store.customer_for_phone("+15551230001")
        assert customer is not None
        await store.update_customer(customer.id, display_name="Ada Lovelace")
        cid = await store.open_contact(
            "voice", "inbound", "+15551230001", "100", customer_id=customer.id
        )
        await store.append(cid, "call.arrived", {"caller": "+15551230001", "dialed": "100"})
        await store.append(cid, "contact.join", {"channel": "voice"}, queue="support")
        await store.append(cid, "contact.answered", {"channel": "voice"}, "support", "a1")
        await store.append(cid, "agent.accept", {"channel": "voice"}, "support", "a1")
        await _settled(wallboard)

        row = _row(wallboard, cid)
        assert (row["who"], row["agent"], row["state"]) == ("Ada Lovelace", "a1", "talking")
        assert _offered(wallboard, "support") == 1  # an inbound call is a visit

        await store.append(cid, "call.ended", {"status": "completed", "reason": "x"})
        # The agent's finish comes after the caller's end: no row again, no read again.
        await store.append(cid, "agent.finish", {"channel": "voice"}, "support", "a1")
        await _settled(wallboard)
        assert [r for r in wallboard.view()["contacts"] if r["contact_id"] == cid] == []
        assert reads == {cid: 1}
    finally:
        await wallboard.stop()


async def test_an_agents_outbound_call_is_read_once_and_no_visit(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    wallboard = Wallboard(store, None, ReportSettings())
    await wallboard.start()
    try:
        reads = _count_reads(store, monkeypatch)
        cid = await store.open_contact("outbound", "outbound", "support", "+15551230002")
        # As the outbound call logs it: its queue join first, then outbound.started.
        await store.append(cid, "contact.join", {"channel": "voice"}, queue="support")
        await _settled(wallboard)
        await store.append(
            cid,
            "outbound.started",
            {"agent": "a1", "to": "+15551230002", "queue": "support", "by": "a1"},
            "support",
            "a1",
        )
        await store.append(cid, "contact.answered", {"channel": "voice"}, "support", "a1")
        await store.append(cid, "agent.accept", {"channel": "voice"}, "support", "a1")
        await _settled(wallboard)

        assert _row(wallboard, cid)["who"] == "+15551230002"  # no customer: the number
        assert _offered(wallboard, "support") == 0  # an agent's outbound call: no visit
        assert reads == {cid: 1}
    finally:
        await wallboard.stop()


async def test_a_contact_that_joins_again_after_leaving_is_shown_and_read_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = LiveContacts(store)
    reads = _count_reads(store, monkeypatch)
    cid = await store.open_contact("voice", "inbound", "+15551230003", "100")
    events = [
        await store.append(cid, "call.arrived", {"caller": "+15551230003"}),
        await store.append(cid, "contact.join", {"channel": "voice"}, queue="sales"),
        await store.append(cid, "contact.leave", {"channel": "voice"}, queue="sales"),
        await store.append(cid, "flow.node", {"node": "menu", "kind": "menu"}),
        await store.append(cid, "contact.join", {"channel": "voice"}, queue="support"),
    ]
    logged = await store.events(cid)
    assert [e.id for e in logged] == events
    live.replay(logged[:2])
    await _read(live)
    live.replay(logged[2:4])  # left the queue; a flow step after it does not show it
    assert live.view(0.0) == [] and cid not in live.contacts
    live.replay(logged[4:])  # joined another queue: live again
    (row,) = live.view(logged[4].ts.timestamp())
    assert (row["contact_id"], row["queue"]) == (cid, "support")
    await _read(live)
    assert reads == {cid: 2}  # one read for each live part


async def test_a_contact_ended_before_its_read_is_not_read(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = LiveContacts(store)
    reads = _count_reads(store, monkeypatch)
    cid = await store.open_contact("voice", "inbound", "+15551230005", "100")
    await store.append(cid, "call.arrived", {"caller": "+15551230005"})
    await store.append(cid, "call.ended", {"status": "abandoned", "reason": "x"})
    live.replay(await store.events(cid))  # a replayed day: gone before the reader runs
    await _read(live)
    assert reads == {} and live.view(0.0) == []


async def _read(live: LiveContacts) -> None:
    for _ in range(200):
        if live.reader is None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the live contacts' reader did not finish")


async def test_contact_and_customer_in_one_read(store: Store) -> None:
    customer = await store.customer_for_phone("+15551230004")
    assert customer is not None
    await store.update_customer(customer.id, display_name="Grace Hopper")
    with_customer = await store.open_contact(
        "voice", "inbound", "+15551230004", "100", customer_id=customer.id
    )
    without = await store.open_contact("chat", "inbound", "web", "support")

    found = await store.contact_and_customer(with_customer)
    assert found is not None
    assert found[0] == await store.contact(with_customer)
    assert found[1] == await store.customer(customer.id)
    assert found[1] is not None and found[1].display_name == "Grace Hopper"

    alone = await store.contact_and_customer(without)
    assert alone is not None and alone[1] is None
    assert alone[0] == await store.contact(without)

    assert await store.contact_and_customer("no-such-contact") is None
