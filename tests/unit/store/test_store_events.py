"""The contact event log: append-only, ordered, timezone-aware UTC."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from hotline.store import LoggedEvent, Store, UnknownContact
from tests.pg import PostgresServer


async def test_append_and_read_back_in_order(store: Store) -> None:
    contact_id = await store.open_contact("voice", "inbound", "+15550100", "100")
    types = ["call.arrived", "flow.node", "prompt.played", "contact.join", "call.answered"]
    ids = []
    for n, kind in enumerate(types):
        ids.append(await store.append(contact_id, kind, {"n": n}, queue="sales", agent=None))
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    events = await store.events(contact_id)
    assert [e.id for e in events] == ids
    assert [e.type for e in events] == types
    assert [e.data for e in events] == [{"n": n} for n in range(len(types))]
    assert all(e.queue == "sales" and e.agent is None for e in events)
    assert all(e.contact_id == contact_id for e in events)
    assert [e.ts for e in events] == sorted(e.ts for e in events)


async def test_event_fields(store: Store) -> None:
    contact_id = await store.open_contact("chat", "inbound", "web:1", "support")
    before = datetime.now(UTC)
    event_id = await store.append(
        contact_id,
        "agent.accept",
        {"reason": "longest idle", "skills": ["ru"]},
        queue="support",
        agent="alice",
    )
    [event] = await store.events(contact_id)
    assert event == LoggedEvent(
        id=event_id,
        contact_id=contact_id,
        ts=event.ts,
        type="agent.accept",
        queue="support",
        agent="alice",
        data={"reason": "longest idle", "skills": ["ru"]},
    )
    assert event.ts.tzinfo is UTC
    assert before <= event.ts <= datetime.now(UTC)


async def test_agent_only_events(store: Store) -> None:
    event_id = await store.append(
        None, "agent.pause", {"state": "paused", "reason": "lunch"}, agent="bob"
    )
    start = datetime.now(UTC) - timedelta(minutes=1)
    [event] = await store.events_between(start, start + timedelta(minutes=2))
    assert (event.id, event.contact_id, event.agent, event.data["state"]) == (
        event_id,
        None,
        "bob",
        "paused",
    )
    assert event.data == {"state": "paused", "reason": "lunch"}


async def test_append_defaults_data_to_empty(store: Store) -> None:
    contact_id = await store.open_contact("voice", "inbound", "1", "2")
    await store.append(contact_id, "call.arrived")
    assert (await store.events(contact_id))[0].data == {}


async def test_append_to_unknown_contact(store: Store) -> None:
    with pytest.raises(UnknownContact, match="no contact with id 'missing'"):
        await store.append("missing", "call.arrived")


@pytest.mark.parametrize(
    "kind", ["", "call", "Call.Answered", "call answered", "call.", ".x", "call.started"]
)
async def test_append_refuses_bad_types(store: Store, kind: str) -> None:
    with pytest.raises(ValueError, match="not in the event catalogue"):
        await store.append(None, kind)


async def test_append_refuses_bad_data(store: Store) -> None:
    with pytest.raises(TypeError, match="data must be a dict"):
        await store.append(None, "agent.pause", ["x"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="data is not JSON-serialisable"):
        await store.append(None, "agent.pause", {"x": object()})
    with pytest.raises(ValueError, match="ts must be timezone-aware"):
        await store.append(None, "agent.pause", ts=datetime(2025, 1, 1))


async def test_event_ids_strictly_increase_under_concurrency(store: Store) -> None:
    contacts = [await store.open_contact("voice", "inbound", str(n), "100") for n in range(4)]

    async def writer(contact_id: str) -> list[int]:
        return [await store.append(contact_id, "flow.node", {"i": i}) for i in range(10)]

    per_writer = await asyncio.gather(*(writer(c) for c in contacts))
    for ids in per_writer:
        assert ids == sorted(ids)
    all_ids = [i for ids in per_writer for i in ids]
    assert len(set(all_ids)) == len(all_ids) == 40
    for contact_id, ids in zip(contacts, per_writer, strict=True):
        events = await store.events(contact_id)
        assert [e.id for e in events] == ids
        assert [e.data["i"] for e in events] == list(range(10))
    later = await store.append(None, "agent.pause")
    assert later > max(all_ids)


def test_event_log_is_append_only() -> None:
    public = {name for name in dir(Store) if not name.startswith("_")}
    about_events = {name for name in public if "event" in name or name == "append"}
    assert about_events == {"append", "events", "events_between"}
    assert not {n for n in public if n.startswith(("delete", "remove", "truncate", "purge"))}
    # Only summaries change (a contact's, a customer's): never an event.
    updates = {n for n in public if n.startswith("update")}
    assert updates == {"update_contact", "update_customer"}


async def test_timestamps_are_utc_with_microseconds(store: Store) -> None:
    kathmandu = timezone(timedelta(hours=5, minutes=45))
    local = datetime(2025, 3, 4, 10, 0, 0, 123456, tzinfo=kathmandu)
    await store.append(None, "agent.login", agent="alice", ts=local)
    [event] = await store.events_between(
        datetime(2025, 3, 4, tzinfo=UTC), datetime(2025, 3, 5, tzinfo=UTC)
    )
    assert event.ts == local
    assert event.ts.tzinfo is UTC
    assert event.ts == datetime(2025, 3, 4, 4, 15, 0, 123456, tzinfo=UTC)
    async with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            raw = (await conn.execute(text("SELECT ts FROM contact_events"))).scalar()
            assert raw == "2025-03-04 04:15:00.123456"
        else:
            raw = (
                await conn.execute(
                    text(
                        "SELECT to_char(ts AT TIME ZONE 'UTC', 'HH24:MI:SS.US') FROM contact_events"
                    )
                )
            ).scalar()
            assert raw == "04:15:00.123456"


async def test_events_between_is_half_open_and_filters_types(store: Store) -> None:
    t0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    contact_id = await store.open_contact("voice", "inbound", "1", "2")
    for minutes, kind in [
        (0, "call.arrived"),
        (1, "call.answered"),
        (2, "call.ended"),
        (3, "call.arrived"),
    ]:
        await store.append(contact_id, kind, ts=t0 + timedelta(minutes=minutes))
    window = await store.events_between(t0, t0 + timedelta(minutes=2))
    assert [e.type for e in window] == ["call.arrived", "call.answered"]
    started = await store.events_between(t0, t0 + timedelta(hours=1), types=["call.arrived"])
    assert [e.ts for e in started] == [t0, t0 + timedelta(minutes=3)]
    one = await store.events_between(t0, t0 + timedelta(hours=1), types="call.ended")
    assert [e.type for e in one] == ["call.ended"]
    assert await store.events_between(t0, t0 + timedelta(hours=1), types=[]) == []
    kathmandu = timezone(timedelta(hours=5, minutes=45))
    same = await store.events_between(t0.astimezone(kathmandu), t0 + timedelta(minutes=2))
    assert same == window
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        await store.events_between(datetime(2025, 1, 1), t0)


async def test_append_is_committed_when_it_returns(store: Store) -> None:
    other = await Store.connect(store.url.render_as_string(hide_password=False))
    try:
        contact_id = await store.open_contact("voice", "inbound", "1", "2")
        event_id = await store.append(contact_id, "call.arrived")
        assert [e.id for e in await other.events(contact_id)] == [event_id]
    finally:
        await other.close()


@pytest.mark.pg
async def test_postgres_session_time_zone_does_not_matter(
    pg_server: PostgresServer, pg_url: str
) -> None:
    database = pg_url.rsplit("/", 1)[1]
    pg_server.psql(f"ALTER DATABASE \"{database}\" SET timezone TO 'Asia/Kathmandu'")
    store = await Store.connect(pg_url)
    try:
        await store.migrate()
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("SHOW timezone"))).scalar() == "Asia/Kathmandu"
        moment = datetime(2025, 3, 4, 4, 15, 0, 123456, tzinfo=UTC)
        await store.append(None, "agent.login", agent="alice", ts=moment)
        [event] = await store.events_between(moment, moment + timedelta(seconds=1))
        assert event.ts == moment and event.ts.tzinfo is UTC
    finally:
        await store.close()


async def test_listeners_see_each_committed_event_and_can_stop(store):
    seen: list = []
    stop = store.listen(seen.append)
    contact_id = await store.open_contact("voice", "inbound", "+15550001", "100")
    await store.append(contact_id, "call.answered", {"x": 1}, queue="support")
    stop()
    await store.append(contact_id, "call.ended")
    assert [(e.type, e.queue, e.data) for e in seen] == [("call.answered", "support", {"x": 1})]
    assert seen[0].id == (await store.events(contact_id))[0].id


async def test_a_failing_listener_does_not_lose_the_event(store):
    def broken(event):
        raise RuntimeError("listener bug")

    store.listen(broken)
    contact_id = await store.open_contact("voice", "inbound", "+15550001", "100")
    await store.append(contact_id, "call.answered")
    assert [e.type for e in await store.events(contact_id)] == ["call.answered"]


async def test_concurrent_appends_all_land_in_order_of_commit(db_url):
    """Many writers at once (a load peak): none fails on SQLite's file lock, none is lost,
    even with no time to wait for the lock and no retry."""
    # busy_timeout is SQLite's lock wait (on PostgreSQL the connect timeout: keep it).
    sqlite = db_url.startswith("sqlite")
    store = await Store.connect(db_url, retry_for=0, busy_timeout=0.001 if sqlite else 5.0)
    await store.migrate()
    try:
        await _many_writers(store)
    finally:
        await store.close()


async def _many_writers(store):
    contact_ids = [
        await store.open_contact("voice", "inbound", f"+1555000{n:04d}", "100") for n in range(20)
    ]

    async def writer(contact_id: str) -> list[int]:
        return [await store.append(contact_id, "flow.node", {"n": n}) for n in range(10)]

    written = await asyncio.gather(*(writer(c) for c in contact_ids))
    ids = [i for per_contact in written for i in per_contact]
    assert len(ids) == len(set(ids)) == 200
    for contact_id, per_contact in zip(contact_ids, written, strict=True):
        events = await store.events(contact_id)
        assert [e.id for e in events] == per_contact
        assert [e.data["n"] for e in events] == list(range(10))
