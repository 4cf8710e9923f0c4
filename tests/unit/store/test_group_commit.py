"""Group commit: writes that queue together share one commit, and one failing write
costs only itself."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event

from hotline.store import Store
from hotline.store.errors import UnknownContact


def count_commits(store: Store) -> list[int]:
    commits = [0]

    @event.listens_for(store.write_engine.sync_engine, "commit")
    def _on_commit(_conn: object) -> None:
        commits[0] += 1

    return commits


async def test_writes_queued_together_share_commits(store: Store) -> None:
    contact = await store.open_contact("voice", "inbound", "+15550001", "100")
    commits = count_commits(store)
    ids = await asyncio.gather(*(store.append(contact, "flow.node", {"n": n}) for n in range(50)))
    assert len(set(ids)) == 50
    assert [e.data["n"] for e in await store.events(contact)] == list(range(50))
    # Fewer commits than writes: the ones that queued behind the first share a commit.
    assert 1 <= commits[0] < 50


async def test_a_failing_write_fails_alone_and_the_rest_are_kept(store: Store) -> None:
    contact = await store.open_contact("voice", "inbound", "+15550002", "100")
    results = await asyncio.gather(
        store.append(contact, "flow.node", {"n": 1}),
        store.append("no-such-contact", "flow.node", {"n": 2}),
        store.append(contact, "flow.node", {"n": 3}),
        return_exceptions=True,
    )
    assert isinstance(results[1], UnknownContact)
    assert str(results[1]) == "no contact with id 'no-such-contact'"
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert [e.data["n"] for e in await store.events(contact)] == [1, 3]
    assert await store.events("no-such-contact") == []


async def test_a_write_cancelled_while_queued_is_not_written(store: Store) -> None:
    contact = await store.open_contact("voice", "inbound", "+15550003", "100")
    first = asyncio.ensure_future(store.append(contact, "flow.node", {"n": 1}))
    second = asyncio.ensure_future(store.append(contact, "flow.node", {"n": 2}))
    await asyncio.sleep(0)  # both queued; the first batch has taken only the first
    second.cancel()
    await first
    with pytest.raises(asyncio.CancelledError):
        await second
    assert [e.data["n"] for e in await store.events(contact)] == [1]


async def test_an_idle_writer_waits_its_commit_delay_for_more_writes(db_url: str) -> None:
    # Writes made a few loop turns apart (as a call's are): without a delay each finds
    # the writer idle and commits alone; with one they share the first commit.
    for delay, most in ((0.0, None), (0.05, 1)):
        store = await Store.connect(db_url, commit_delay=delay)
        try:
            await store.migrate()
            contact = await store.open_contact("voice", "inbound", "+15550003", "100")
            commits = count_commits(store)
            loop = asyncio.get_running_loop()
            started = loop.time()
            written = []
            for n in range(5):
                written.append(store.append_soon(contact, "flow.node", {"n": n}))
                await asyncio.sleep(0.002)
            await asyncio.gather(*written)
            waited = loop.time() - started
            if most is None:
                assert commits[0] > 1
            else:
                assert commits[0] == most
                assert waited >= delay  # the first write waited the delay
            assert [e.data["n"] for e in await store.events(contact)] == list(range(5))
        finally:
            await store.close()


async def test_lazy_events_wait_for_an_awaited_write_and_share_its_commit(db_url: str) -> None:
    # A call's own events (lazy) queued over a few loop turns commit with the routing
    # record that follows them, in order, and none is heard of before that commit.
    store = await Store.connect(db_url, lazy_delay=5.0)
    try:
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "+15550004", "100")
        commits = count_commits(store)
        heard: list[str] = []
        store.listen(lambda event: heard.append(event.data["n"]))
        lazy = []
        for n in ("a", "b", "c"):
            lazy.append(store.append_soon(contact, "flow.node", {"n": n}, lazy=True))
            await asyncio.sleep(0.01)
        assert commits[0] == 0 and heard == [] and not any(f.done() for f in lazy)
        await store.append(contact, "contact.join", {"n": "d"}, queue="sales")
        assert all(f.done() for f in lazy)
        assert commits[0] == 1
        assert heard == ["a", "b", "c", "d"]
        assert [e.data["n"] for e in await store.events(contact)] == ["a", "b", "c", "d"]
    finally:
        await store.close()


async def test_a_lazy_event_alone_commits_after_the_lazy_delay(db_url: str) -> None:
    store = await Store.connect(db_url, lazy_delay=0.05)
    try:
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "+15550005", "100")
        loop = asyncio.get_running_loop()
        started = loop.time()
        event_id = await store.append_soon(contact, "flow.node", {"n": 1}, lazy=True)
        assert loop.time() - started >= 0.05
        assert [e.id for e in await store.events(contact)] == [event_id]
    finally:
        await store.close()


async def test_hurry_commits_the_lazy_events_in_line_at_once(db_url: str) -> None:
    store = await Store.connect(db_url, lazy_delay=5.0)
    try:
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "+15550006", "100")
        lazy = [store.append_soon(contact, "flow.node", {"n": n}, lazy=True) for n in range(3)]
        store.hurry()
        await asyncio.wait_for(asyncio.gather(*lazy), timeout=1.0)
        assert [e.data["n"] for e in await store.events(contact)] == [0, 1, 2]
        store.hurry()  # nothing in line: the next lazy event still waits its delay
        late = store.append_soon(contact, "flow.node", {"n": 3}, lazy=True)
        await asyncio.sleep(0.05)
        assert not late.done()
        store.hurry()
        await asyncio.wait_for(late, timeout=1.0)
    finally:
        await store.close()


async def test_a_lazy_event_that_fails_fails_alone_with_its_error(db_url: str) -> None:
    store = await Store.connect(db_url, lazy_delay=5.0)
    try:
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "+15550007", "100")
        bad = store.append_soon("no-such-contact", "flow.node", {"n": 1}, lazy=True)
        good = store.append_soon(contact, "flow.node", {"n": 2}, lazy=True)
        await store.append(contact, "flow.node", {"n": 3})
        with pytest.raises(UnknownContact, match="no contact with id 'no-such-contact'"):
            await bad
        assert isinstance(await good, int)
        assert [e.data["n"] for e in await store.events(contact)] == [2, 3]
        assert await store.events("no-such-contact") == []
    finally:
        await store.close()


async def test_close_commits_the_lazy_events_in_line(db_url: str) -> None:
    store = await Store.connect(db_url, lazy_delay=30.0)
    await store.migrate()
    contact = await store.open_contact("voice", "inbound", "+15550008", "100")
    lazy = store.append_soon(contact, "flow.node", {"n": 1}, lazy=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await store.close()
    assert loop.time() - started < 5.0 and lazy.done()
    again = await Store.connect(db_url)
    try:
        assert [e.data["n"] for e in await again.events(contact)] == [1]
    finally:
        await again.close()


async def test_lazy_events_queued_during_a_commit_wait_for_the_next_awaited_write(
    db_url: str,
) -> None:
    store = await Store.connect(db_url, lazy_delay=5.0)
    try:
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "+15550009", "100")
        commits = count_commits(store)
        first = store.append_soon(contact, "flow.node", {"n": 1})  # awaited below
        while store._writer._queue:  # until the writer has taken the first write
            await asyncio.sleep(0)
        lazy = store.append_soon(contact, "flow.node", {"n": 2}, lazy=True)
        await first
        await asyncio.sleep(0.05)
        assert not lazy.done() and commits[0] == 1
        await store.append(contact, "flow.node", {"n": 3})
        assert lazy.done() and commits[0] == 2
        assert [e.data["n"] for e in await store.events(contact)] == [1, 2, 3]
    finally:
        await store.close()


async def test_an_awaited_write_past_a_full_batch_does_not_wait_the_lazy_delay(
    db_url: str,
) -> None:
    store = await Store.connect(db_url, lazy_delay=30.0)
    try:
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "+15550010", "100")
        store._writer._max_batch = 2  # a full batch, with the awaited write past it
        lazy = [store.append_soon(contact, "flow.node", {"n": n}, lazy=True) for n in range(3)]
        awaited = store.append(contact, "flow.node", {"n": 3})
        await asyncio.wait_for(awaited, timeout=5.0)
        assert all(f.done() for f in lazy)
        assert [e.data["n"] for e in await store.events(contact)] == [0, 1, 2, 3]
    finally:
        await store.close()


async def test_a_lazy_contact_update_commits_with_the_next_awaited_write(db_url: str) -> None:
    store = await Store.connect(db_url, lazy_delay=5.0)
    try:
        await store.migrate()
        contact = await store.open_contact("voice", "inbound", "+15550011", "100")
        commits = count_commits(store)
        update = asyncio.ensure_future(store.update_contact(contact, lazy=True, node="menu"))
        await asyncio.sleep(0.05)
        assert not update.done() and commits[0] == 0
        await store.close_contact(contact, "completed")
        assert update.done() and commits[0] == 1
        row = await store.contact(contact)
        assert row is not None and row.node == "menu" and row.status == "completed"
    finally:
        await store.close()


async def test_a_lazy_update_of_an_unknown_field_is_refused_and_nothing_is_written(
    store: Store,
) -> None:
    contact = await store.open_contact("voice", "inbound", "+15550012", "100")
    with pytest.raises(TypeError, match="update_contact: cannot set colour; allowed: "):
        await store.update_contact(contact, lazy=True, colour="red")
    row = await store.contact(contact)
    assert row is not None and row.node is None and row.status == "active"
