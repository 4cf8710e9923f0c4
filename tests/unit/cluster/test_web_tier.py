"""The web tier's parts without a browser: `web_tier:` checked, haproxy's config
rendered (and checked by the real haproxy where it is installed), chats' claims on a
real PostgreSQL, and the event log tail."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from chat_bridge.bridge import ChatRefused
from chat_bridge.claims import ChatClaims, ClaimsLost, claim_key
from chat_bridge.cluster import ChatCluster
from controller.haproxy import check, haproxy_binary, render
from hotline.acd.model import Contact
from hotline.acd.restore import Talking
from hotline.acd.service import RoutingService, Ticket
from hotline.cluster.leader import asyncpg_dsn
from hotline.cluster.log_tail import LogTail, TailedStore
from hotline.cluster.web_tier import WebTierConfig
from hotline.store import Store
from tests.unit.chat.conftest import make_rig
from tests.unit.chat.test_recovery import to_queue

TEMPLATES = Path(__file__).resolve().parents[3] / "config" / "haproxy"


def tier(**changes: object) -> WebTierConfig:
    settings: dict[str, object] = {
        "listen": "10.0.0.8",
        "port": 80,
        "processes": ["10.0.0.5:8080", "10.0.0.6:8080"],
    }
    return WebTierConfig.model_validate({**settings, **changes})


def test_web_tier_is_checked() -> None:
    assert [str(p) for p in tier().processes] == ["10.0.0.5:8080", "10.0.0.6:8080"]
    with pytest.raises(ValidationError, match=r"10\.0\.0\.5:8080 given more than once"):
        tier(processes=["10.0.0.5:8080", "10.0.0.5:8080"])
    with pytest.raises(ValidationError, match="is written address:port"):
        tier(processes=["web-a"])
    with pytest.raises(ValidationError, match=r"web_tier\.listen must be an IP address"):
        tier(listen="web.example.com")
    with pytest.raises(ValidationError, match=r"not 0\.0\.0\.0 \(any address"):
        tier(listen="0.0.0.0")
    with pytest.raises(ValidationError, match="also a web process's address"):
        tier(listen="10.0.0.5", port=8080)
    with pytest.raises(ValidationError, match="at least 1 item"):
        tier(processes=[])


def test_haproxy_config_names_every_process_and_checks_health(tmp_path: Path) -> None:
    text = render(tier(check_interval=0.5, fall=3), TEMPLATES)
    assert "bind 10.0.0.8:80" in text
    assert "server web1 10.0.0.5:8080 check" in text
    assert "server web2 10.0.0.6:8080 check" in text
    assert "http-check send meth GET uri /api/health" in text
    assert "inter 500ms" in text and "fall 3" in text
    assert "on-marked-down shutdown-sessions" in text
    assert "cookie" not in text.split("global", 1)[1]  # no sticky sessions
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (scripts/setup.sh test)")
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    check(haproxy_binary(), path)  # haproxy -c accepts it


def test_claim_keys_are_per_session() -> None:
    assert claim_key("a") == claim_key("a") != claim_key("b")


@pytest.mark.pg
async def test_one_process_runs_a_chat_until_its_connection_ends(pg_url: str) -> None:
    a, b = ChatClaims(asyncpg_dsn(pg_url)), ChatClaims(asyncpg_dsn(pg_url))
    await a.open()
    await b.open()
    try:
        assert await a.claim("s1")
        assert await a.claim("s1")  # held already
        assert not await b.claim("s1")  # another process runs it
        assert await b.claim("s2")
        await a.release("s1")  # handed over
        assert await b.claim("s1")
        assert not await a.claim("s1")
        b._conn.terminate()  # its process killed: PostgreSQL frees its locks
        await asyncio.sleep(0.1)
        assert b.lost.is_set() and not b.held
        with pytest.raises(ClaimsLost):
            await b.claim("s3")
        assert await a.claim("s1") and await a.claim("s2")  # freed with b's session
        await b.reopen()  # claims again, holding nothing
        assert not b.lost.is_set() and await b.claim("s3") and b.holds("s3")
        assert not await b.claim("s1")  # a's now
    finally:
        await a.close()
        await b.close()


@pytest.mark.pg
async def test_a_chat_claimed_twice_at_once_is_locked_once_and_let_go_at_once(
    pg_url: str,
) -> None:
    """Two tasks of one process claiming a chat together (a widget's reconnect and the
    sweep): the advisory lock is taken once, so the one release frees it for another
    process (issue #20: it stayed locked, the chat could not move)."""
    a, b = ChatClaims(asyncpg_dsn(pg_url)), ChatClaims(asyncpg_dsn(pg_url))
    await a.open()
    await b.open()
    try:
        assert await asyncio.gather(a.claim("s1"), a.claim("s1")) == [True, True]
        assert not await b.claim("s1")
        await a.release("s1")
        assert await b.claim("s1")  # freed by the one release
        assert not a.holds("s1")
    finally:
        await a.close()
        await b.close()


class leader_restore_routing:
    """`routing` with another `restore`."""

    def __init__(self, routing: RoutingService, restore: Any) -> None:
        self._routing = routing
        self.restore = restore

    def __getattr__(self, name: str) -> Any:
        return getattr(self._routing, name)


class _SlowConnection:
    """The claims' connection on a loaded machine: each query takes a while."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetchval(self, sql: str, *args: Any) -> Any:
        await asyncio.sleep(0.3)
        return await self._conn.fetchval(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def _slow_connect(dsn: str) -> _SlowConnection:
    import asyncpg  # type: ignore[import-untyped]

    return _SlowConnection(await asyncpg.connect(dsn))


class _Subscription:
    async def unsubscribe(self) -> None:
        pass


class _Nats:
    """NATS with no other web process on it: nobody answers a request."""

    async def subscribe(self, subject: str, cb: object) -> _Subscription:
        return _Subscription()

    async def publish(self, subject: str, data: bytes) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def request(self, subject: str, data: bytes, timeout: float) -> None:
        from nats.errors import NoRespondersError

        raise NoRespondersError


@pytest.mark.pg
async def test_a_chat_taken_over_by_a_reconnect_and_the_sweep_at_once_runs_once(
    pg_url: str, tmp_path: Path
) -> None:
    """Issue #20: the claims' session lost, a chat let go; its widget reconnecting while
    the sweep found it unclaimed carried it on twice in one process, two live copies
    each counting its messages: a message stored by one, the next by the other with
    the same sequence number (refused by the database, the agent's reply lost)."""
    async with make_rig(tmp_path) as rig:
        await rig.routing.login("alice", ["chat"])
        customer = await to_queue(rig, "v1")
        offer = await rig.desk_frame("offer")
        contact_id = offer["contact_id"]
        await rig.bridge.hub.accept("alice", contact_id)
        await rig.bridge.hub.send("alice", contact_id, "Hi, Alice here", "a1")
        chat = customer.chat
        await rig.bridge.release(chat)  # its process let it go (its claims' session ended)
        session = await rig.bridge.chats.session(chat.id)
        assert session is not None
        restore = rig.routing.restore

        async def leader_restore(
            waiting: Iterable[Contact] = (), talking: Iterable[Talking] = ()
        ) -> tuple[dict[str, Ticket], dict[str, str]]:
            # The routing leader keeps a conversation it knows as it is (hotline/cluster/
            # responder.py `_restore`); this rig's one routing service would refuse it.
            return await restore(waiting, [t for t in talking if t.contact.id != contact_id])

        rig.bridge.routing = leader_restore_routing(rig.routing, leader_restore)
        claims = ChatClaims(asyncpg_dsn(pg_url), connect=_slow_connect)
        await claims.open()
        cluster = ChatCluster(_Nats(), "d", rig.bridge, claims)
        rig.bridge.owner = cluster
        try:
            # The reconnect claims first; the sweep finds the chat while that claim is
            # on its way (so not held yet, not live yet).
            taken, _swept = await asyncio.gather(cluster.take(session), cluster.sweep())
            assert cluster.taken_over == 1, "carried on twice"
            assert rig.bridge.live[chat.id] is taken and taken.state == "agent"
            # The customer writes (to the copy their socket is on), alice answers (to the
            # copy her desk's tab is on): both stored, in order, each once.
            await rig.bridge.customer_message(taken, "still there?", client_id="v1-3")
            seq = await rig.bridge.hub.send("alice", contact_id, "Yes, still here", "a2")
            stored = await rig.bridge.chats.messages(chat.id)
            assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
            assert [m.text for m in stored[-2:]] == ["still there?", "Yes, still here"]
            assert stored[-1].seq == seq
            # The copy let go (its widget socket not closed yet) writes nothing: refused,
            # not acknowledged, the widget sends it again once reconnected.
            for late in (
                rig.bridge.customer_message(chat, "late", client_id="v1-late"),
                rig.bridge.customer_close(chat),
            ):
                with pytest.raises(ChatRefused, match="moved to another server") as refused:
                    await late
                assert refused.value.code == "moved"
            assert await rig.bridge.chats.messages(chat.id) == stored
            assert taken.state == "agent" and not taken.customer_left
            # The per-chat locks: kept for an open chat, dropped for one no longer open.
            cluster._taking_lock("closed-long-ago")
            assert await cluster.sweep() == 0
            assert set(cluster._taking) == {chat.id}
            assert claims.holds(chat.id)
        finally:
            await cluster.stop()
            await claims.close()


async def test_the_log_tail_hands_on_every_event_once_in_id_order(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    here, there = await Store.connect(url), await Store.connect(url)
    await here.migrate()
    try:
        now = datetime.now(UTC)
        tail = LogTail(here, every=3600, settle=0.3, now=lambda: now)
        heard: list[str | None] = []
        tailed = TailedStore(here, tail)
        tailed.listen(lambda event: heard.append(event.agent))
        assert tailed.events_between == here.events_between  # the rest is the store's
        await here.append(None, "agent.login", {"channel": "chat"}, agent="before")
        now = datetime.now(UTC)  # the tail starts after "before"
        await tail.start()
        await there.append(None, "agent.login", {"channel": "chat"}, agent="alice")
        await here.append(None, "agent.login", {"channel": "voice"}, agent="bob")
        assert await tail.poll() == 0  # not settled yet: a lower id may still commit
        now += timedelta(seconds=1)
        assert await tail.poll() == 2
        assert heard == ["alice", "bob"]  # both processes', in id order, not "before"
        assert await tail.poll() == 0  # each once
        assert tail.late == 0
        await tail.stop()
    finally:
        await here.close()
        await there.close()
