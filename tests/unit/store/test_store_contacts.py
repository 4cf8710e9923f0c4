"""Contacts: open, update the summary, close, read back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hotline.events import UnknownEventType
from hotline.store import Contact, LoggedEvent, Store, UnknownContact, UnknownCustomer
from hotline.store.group_commit import InsertRow, Together, UpdateRow
from hotline.store.store import CONTACTS, EVENTS
from tests.unit.store.test_group_commit import count_commits


async def test_open_contact_defaults(store: Store) -> None:
    customer = await store.customer_for_phone("+15550100")
    assert customer is not None
    before = datetime.now(UTC)
    contact_id = await store.open_contact(
        "voice",
        "inbound",
        "+15550100",
        "100",
        customer_id=customer.id,
        asterisk_channel="1700000000.42",
        asterisk_node="pbx-1",
    )
    assert uuid.UUID(contact_id).version == 4
    contact = await store.contact(contact_id)
    assert contact == Contact(
        id=contact_id,
        channel="voice",
        direction="inbound",
        customer_id=customer.id,
        source="+15550100",
        destination="100",
        started_at=contact.started_at if contact else before,
        ended_at=None,
        status="active",
        flow=None,
        flow_version=None,
        language=None,
        node=None,
        variables={},
        asterisk_channel="1700000000.42",
        asterisk_node="pbx-1",
    )
    assert contact is not None
    assert contact.started_at.tzinfo is UTC
    assert before <= contact.started_at <= datetime.now(UTC)


async def test_open_contact_for_chat_and_callback(store: Store) -> None:
    chat = await store.open_contact("chat", "inbound", "web:abc123", "support")
    callback = await store.open_contact("callback", "outbound", "100", "+15550100")
    assert (await store.contact(chat)).channel == "chat"  # type: ignore[union-attr]
    assert (await store.contact(callback)).direction == "outbound"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("channel", "direction", "message"),
    [
        ("fax", "inbound", "channel must be one of voice, chat, callback, outbound; got 'fax'"),
        ("voice", "sideways", "direction must be one of inbound, outbound; got 'sideways'"),
    ],
)
async def test_open_contact_validates(
    store: Store, channel: str, direction: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await store.open_contact(channel, direction, "1", "2")
    assert await store.recent_contacts() == []


async def test_open_contact_unknown_customer(store: Store) -> None:
    with pytest.raises(UnknownCustomer, match="no customer with id 999"):
        await store.open_contact("voice", "inbound", "1", "2", customer_id=999)


async def test_update_contact_summary_fields(store: Store) -> None:
    contact_id = await store.open_contact("voice", "inbound", "+15550100", "100")
    kathmandu = timezone(timedelta(hours=5, minutes=45))
    ended = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=kathmandu)
    await store.update_contact(
        contact_id,
        flow="main",
        flow_version="sha256:abc",
        language="ru",
        node="menu",
        variables={"account": "42", "tries": 2, "nested": {"ok": True}},
    )
    await store.update_contact(contact_id, status="abandoned", ended_at=ended)
    contact = await store.contact(contact_id)
    assert contact is not None
    assert (contact.flow, contact.flow_version, contact.language, contact.node) == (
        "main",
        "sha256:abc",
        "ru",
        "menu",
    )
    assert contact.variables == {"account": "42", "tries": 2, "nested": {"ok": True}}
    assert contact.status == "abandoned"
    assert contact.ended_at == ended
    assert contact.ended_at is not None and contact.ended_at.tzinfo is UTC
    await store.update_contact(contact_id, node=None)
    assert (await store.contact(contact_id)).node is None  # type: ignore[union-attr]
    await store.update_contact(contact_id)  # nothing to change is fine


async def test_update_contact_refuses_other_fields(store: Store) -> None:
    contact_id = await store.open_contact("voice", "inbound", "1", "2")
    with pytest.raises(TypeError, match="cannot set channel, source; allowed: ended_at"):
        await store.update_contact(contact_id, source="x", channel="chat")
    with pytest.raises(ValueError, match="status must be one of active, completed"):
        await store.update_contact(contact_id, status="finished")
    with pytest.raises(ValueError, match="ended_at must be timezone-aware"):
        await store.update_contact(contact_id, ended_at=datetime(2025, 1, 1))
    with pytest.raises(TypeError, match="variables must be a dict"):
        await store.update_contact(contact_id, variables=["a"])
    with pytest.raises(ValueError, match="variables is not JSON-serialisable"):
        await store.update_contact(contact_id, variables={"when": datetime.now(UTC)})
    assert (await store.contact(contact_id)).status == "active"  # type: ignore[union-attr]


async def test_update_unknown_contact(store: Store) -> None:
    with pytest.raises(UnknownContact, match="no contact with id 'nope'"):
        await store.update_contact("nope", node="x")
    with pytest.raises(UnknownContact):
        await store.close_contact("nope", "completed")


async def test_close_contact(store: Store) -> None:
    contact_id = await store.open_contact("voice", "inbound", "1", "2")
    await store.close_contact(contact_id, "completed")
    closed = await store.contact(contact_id)
    assert closed is not None
    assert closed.status == "completed"
    assert closed.ended_at is not None and closed.ended_at.tzinfo is UTC
    assert closed.started_at <= closed.ended_at <= datetime.now(UTC)
    # closing again may correct the status; the end time stays the first one
    await store.close_contact(contact_id, "lost")
    again = await store.contact(contact_id)
    assert again is not None
    assert (again.status, again.ended_at) == ("lost", closed.ended_at)


async def test_close_contact_needs_final_status(store: Store) -> None:
    contact_id = await store.open_contact("voice", "inbound", "1", "2")
    with pytest.raises(ValueError, match="final status"):
        await store.close_contact(contact_id, "active")


async def test_contact_missing(store: Store) -> None:
    assert await store.contact(str(uuid.uuid4())) is None


async def test_recent_contacts_newest_first(store: Store) -> None:
    ids = [await store.open_contact("voice", "inbound", str(n), "100") for n in range(5)]
    recent = await store.recent_contacts(3)
    assert [c.id for c in recent] == ids[::-1][:3]
    assert [c.id for c in await store.recent_contacts()] == ids[::-1]


async def test_end_contact_appends_its_last_event_and_closes_it(store: Store) -> None:
    contact_id = await store.open_contact("voice", "inbound", "1", "2")
    await store.append(contact_id, "call.arrived", {})
    heard: list[LoggedEvent] = []
    store.listen(heard.append)
    data = {"status": "lost", "reason": "node_lost", "hung_up_by": "hotline"}
    commits = count_commits(store)
    event_id = await store.end_contact(contact_id, "lost", "call.ended", data, queue="sales")
    assert commits == [1]  # the event and the close: one transaction
    ended = await store.contact(contact_id)
    assert ended is not None and ended.status == "lost" and ended.ended_at is not None
    last = (await store.events(contact_id))[-1]
    assert (last.id, last.type, last.data, last.queue) == (event_id, "call.ended", data, "sales")
    assert [(e.id, e.type) for e in heard] == [(event_id, "call.ended")]


async def test_end_contact_of_an_unknown_contact_writes_nothing(store: Store) -> None:
    before = await store.events_between(datetime.min.replace(tzinfo=UTC), datetime.now(UTC))
    with pytest.raises(UnknownContact, match="no contact with id 'nope'"):
        await store.end_contact("nope", "lost", "call.ended", {"status": "lost"})
    assert await store.events("nope") == []
    after = await store.events_between(datetime.min.replace(tzinfo=UTC), datetime.now(UTC))
    assert after == before


@pytest.mark.parametrize(
    ("status", "kind", "data", "error", "text"),
    [
        ("active", "call.ended", {}, ValueError, "final status, not 'active'"),
        ("gone", "call.ended", {}, ValueError, "status must be one of"),
        ("lost", "call.vanished", {}, UnknownEventType, "call.vanished"),
        ("lost", "call.ended", {"at": object()}, ValueError, "data"),
    ],
)
async def test_end_contact_refuses_bad_input_and_changes_nothing(
    store: Store, status: str, kind: str, data: dict, error: type[Exception], text: str
) -> None:
    contact_id = await store.open_contact("voice", "inbound", "1", "2")
    with pytest.raises(error, match=text):
        await store.end_contact(contact_id, status, kind, data)
    still = await store.contact(contact_id)
    assert still is not None and (still.status, still.ended_at) == ("active", None)
    assert await store.events(contact_id) == []


async def test_an_end_whose_close_fails_rolls_back_its_event_not_the_writes_beside_it(
    store: Store,
) -> None:
    # The event's insert goes through and the close then finds no row: the transaction
    # is rolled back whole, and the write queued beside it is committed on its own.
    contact_id = await store.open_contact("voice", "inbound", "1", "2")
    values = {
        "contact_id": contact_id,
        "ts": datetime.now(UTC),
        "type": "call.ended",
        "queue": None,
        "agent": None,
        "data": {},
    }
    missing = UpdateRow(
        CONTACTS, "id", "nope", {"status": "lost"}, lambda: UnknownContact("no such row")
    )
    ended, beside = await asyncio.gather(
        store.write(Together(InsertRow(EVENTS, values), missing), "end"),
        store.append(contact_id, "flow.node", {"n": 1}),
        return_exceptions=True,
    )
    assert isinstance(ended, UnknownContact) and str(ended) == "no such row"
    assert isinstance(beside, int)
    assert [e.type for e in await store.events(contact_id)] == ["flow.node"]
