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
