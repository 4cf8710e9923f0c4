"""Issue #20: a chat's messages numbered once, from the store, by the process holding
its claim; a process that lost the claim (a stale copy of the chat in its memory)
writes nothing to it, stops serving it, and the message goes to the chat's holder.
Over a real PostgreSQL (tests/pg.py): the fence is PostgreSQL's own `pg_locks`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chat_bridge.bridge import ChatRefused
from chat_bridge.claims import ChatClaims, claim_key
from chat_bridge.cluster import MOVED, ChatCluster
from chat_bridge.web import CLOSE
from hotline.cluster.bus import dumps, loads
from hotline.cluster.leader import asyncpg_dsn
from hotline.store import Store
from hotline.store.chats import ChatMessage, ChatNotHeld, ChatStore
from tests.unit.chat.conftest import make_rig
from tests.unit.chat.test_recovery import to_queue

pytestmark = pytest.mark.pg


def draft(session_id: str, text: str, client_id: str | None = None) -> ChatMessage:
    """A message as a chat hands it to the store (its seq given there)."""
    return ChatMessage(session_id, 0, "customer", "text", text, client_id=client_id)


async def steal(a: ChatClaims, b: ChatClaims, session_id: str) -> None:
    """`a` goes on believing it holds the chat while `b` holds it (as when a's copy is
    stale: a's claim gone behind its back)."""
    await a._conn.fetchval("SELECT pg_advisory_unlock($1)", claim_key(session_id))
    assert await b.claim(session_id)
    assert a.holds(session_id) and b.holds(session_id)  # both believe it


@pytest.fixture
async def two(pg_url: str) -> Any:
    store = await Store.connect(pg_url)
    await store.migrate()
    a, b = ChatClaims(asyncpg_dsn(pg_url)), ChatClaims(asyncpg_dsn(pg_url))
    await a.open()
    await b.open()
    try:
        yield store, a, b
    finally:
        await a.close()
        await b.close()
        await store.close()


async def test_two_processes_believing_they_hold_a_chat_one_writes(two: Any) -> None:
    store, a, b = two
    on_a, on_b = ChatStore(store), ChatStore(store)
    on_a.fence, on_b.fence = a, b
    fenced: list[str] = []
    a.on_fenced = fenced.append
    session = await on_a.create_session("web")
    assert await a.claim(session.id)
    first, new = await on_a.add_message(draft(session.id, "hello", "c1"))
    assert (first.seq, new) == (1, True)
    await steal(a, b, session.id)
    # Both send at once: b's stored, numbered after what is stored; a's refused whole.
    results = await asyncio.gather(
        on_a.add_message(draft(session.id, "from stale a")),
        on_b.add_message(draft(session.id, "from b", "c2")),
        return_exceptions=True,
    )
    assert isinstance(results[0], ChatNotHeld)
    assert str(results[0]) == f"chat {session.id} is not run by this process any more"
    stored = await on_b.messages(session.id)
    assert [(m.seq, m.text) for m in stored] == [(1, "hello"), (2, "from b")]
    assert fenced == [session.id] and not a.holds(session.id)  # a stops serving it
    assert b.holds(session.id)
    # a's message sent again at the holder: stored once, next in order.
    again, new = await on_b.add_message(draft(session.id, "from stale a"))
    assert (again.seq, new) == (3, True)
    # A customer's resend (same client id) is not stored twice, wherever it lands.
    resent, new = await on_b.add_message(draft(session.id, "from b", "c2"))
    assert (resent.seq, new) == (2, False)
    assert len(await on_b.messages(session.id)) == 3


async def test_a_reopened_claims_session_is_not_the_old_token(two: Any) -> None:
    """The fence checks the claims session itself (pid and start), not only that
    some session holds the lock: a process whose claims session ended holds nothing,
    whatever `held` says, until it claims again."""
    store, a, _b = two
    on_a = ChatStore(store)
    on_a.fence = a
    session = await on_a.create_session("web")
    assert await a.claim(session.id)
    old = a.token
    await a.reopen()
    assert a.token != old and not a.holds(session.id)
    with pytest.raises(ChatNotHeld):
        await on_a.add_message(draft(session.id, "lost"))
    assert await a.claim(session.id)
    stored, _ = await on_a.add_message(draft(session.id, "claimed again"))
    assert stored.seq == 1 and [m.text for m in await on_a.messages(session.id)] == [
        "claimed again"
    ]


async def test_writers_of_one_chat_number_after_each_other(two: Any) -> None:
    """Numbered in the write's transaction from the last stored message: two stores
    (two processes' memories, both stale) writing at once never collide."""
    store, _a, _b = two
    one, other = ChatStore(store), ChatStore(store)
    session = await one.create_session("web")
    writes = [(one if i % 2 else other).add_message(draft(session.id, f"m{i}")) for i in range(20)]
    results = await asyncio.gather(*writes)
    assert sorted(m.seq for m, _ in results) == list(range(1, 21))
    stored = await one.messages(session.id)
    assert [m.seq for m in stored] == list(range(1, 21))
    assert {m.text for m in stored} == {f"m{i}" for i in range(20)}


class _Subscription:
    async def unsubscribe(self) -> None:
        pass


class _Holder:
    """NATS where process b holds the chat and answers desks' requests about it."""

    def __init__(self, chats: ChatStore, session_id: str) -> None:
        self.chats = chats
        self.session_id = session_id
        self.asked: list[dict[str, Any]] = []

    async def subscribe(self, subject: str, cb: object) -> _Subscription:
        return _Subscription()

    async def publish(self, subject: str, data: bytes) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def request(self, subject: str, data: bytes, timeout: float) -> Any:
        request = loads(data)
        self.asked.append(request)
        args = request["args"]
        message = ChatMessage(self.session_id, 0, "agent", "text", args["text"], agent="alice")
        stored, _ = await self.chats.add_message(message)
        return type("Msg", (), {"data": dumps({"ok": stored.seq})})()


async def test_a_stale_process_stops_serving_and_its_messages_reach_the_holder(
    pg_url: str, tmp_path: Path
) -> None:
    """Process a runs a chat with alice; b takes its claim behind a's back (a's copy is
    stale). The customer's next message on a is refused `moved` (unacknowledged: the
    widget sends it again to b) and a lets the chat go (its widget socket closed
    MOVED); alice's reply asked of a goes to b, which stores it once, in order."""
    async with make_rig(tmp_path, url=pg_url) as rig:
        await rig.routing.login("alice", ["chat"])
        customer = await to_queue(rig, "v1")
        offer = await rig.desk_frame("offer")
        contact_id = offer["contact_id"]
        a = ChatClaims(asyncpg_dsn(pg_url))
        b = ChatClaims(asyncpg_dsn(pg_url))
        await a.open()
        await b.open()
        on_b = ChatStore(rig.store)
        on_b.fence = b
        holder = _Holder(on_b, customer.chat.id)
        cluster = ChatCluster(holder, "d", rig.bridge, a)
        try:
            await cluster.start()
            await cluster.claim(customer.chat)
            await cluster.runs(customer.chat, contact_id)
            await cluster.at_owner(contact_id, "accept", "alice")
            seq = await cluster.at_owner(contact_id, "send", "alice", text="Hi", id="a1")
            before = await rig.bridge.chats.messages(customer.chat.id)
            assert before[-1].seq == seq and before[-1].text == "Hi"
            frames: list[dict[str, Any]] = []
            customer.chat.sinks.add(frames.append)
            await steal(a, b, customer.chat.id)
            with pytest.raises(ChatRefused, match="moved to another server") as refused:
                await rig.bridge.customer_message(customer.chat, "still there?", client_id="v1-9")
            assert refused.value.code == "moved"
            await cluster.settled(customer.chat.id)
            assert customer.chat.id not in rig.bridge.live and cluster.fenced == 1
            assert {CLOSE: MOVED, "reason": "chat moved to another server"} in frames
            assert not cluster.runs_here(contact_id) and not a.holds(customer.chat.id)
            assert await rig.bridge.chats.messages(customer.chat.id) == before  # nothing
            # The widget sends it again at b; alice's reply asked of a is stored by b.
            again = draft(customer.chat.id, "still there?", "v1-9")
            resent, _ = await on_b.add_message(again)
            seq = await cluster.at_owner(contact_id, "send", "alice", text="Yes", id="a2")
            assert holder.asked[-1]["op"] == "send"
            after = await rig.bridge.chats.messages(customer.chat.id)
            assert [(m.seq, m.text) for m in after[len(before) :]] == [
                (resent.seq, "still there?"),
                (seq, "Yes"),
            ]
            assert [m.seq for m in after] == list(range(1, len(after) + 1))
        finally:
            await cluster.stop()
            await a.close()
            await b.close()
