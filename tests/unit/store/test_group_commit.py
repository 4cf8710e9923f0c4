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
