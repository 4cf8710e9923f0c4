"""Supervisors on a chat that another web process runs, over a real nats-server
(chat_bridge/cluster_monitoring.py): process a runs chat s1 (contact c1) with its
`ChatMonitors` (a fake here); a supervisor's page on process b reads, whispers and
takes over through b; refusals come back with their status and words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from chat_bridge.bridge import ChatBridge
from chat_bridge.claims import ChatClaims
from chat_bridge.cluster import ChatCluster
from chat_bridge.cluster_monitoring import LEASE_CHECKS, ClusterChatMonitors
from chat_bridge.monitoring import ChatMonitors
from hotline.calls import BadCommand, Conflict, NotFound
from hotline.cluster.bus import connect, settle
from tests.nats import NatsServer, nats_server

__all__ = ["nats_server"]

Push = Callable[[dict[str, Any]], None]


class Log:
    """The event log's `append` (what a process logs)."""

    def __init__(self) -> None:
        self.appended: list[tuple[str, str, dict[str, Any], str | None]] = []

    async def append(
        self, contact_id: str, type_: str, data: dict[str, Any], *, agent: str | None = None
    ) -> None:
        self.appended.append((contact_id, type_, data, agent))


class FakeMonitors:
    """Process a's monitors of c1 (judy's chat), refusing as the real ones do."""

    def __init__(self) -> None:
        self.readers: dict[str, Push] = {}
        self.notes: list[str] = []
        self.stopped: list[str] = []
        self.reasons: list[str] = []
        self.store = Log()

    def _live(self, contact_id: str) -> None:
        if contact_id != "c1":
            raise NotFound(f"contact {contact_id} has no live chat with an agent")

    async def thread(self, contact_id: str) -> dict[str, Any]:
        self._live(contact_id)
        return {"contact_id": contact_id, "agent": "judy", "messages": [], "notes": self.notes}

    async def read(
        self, contact_id: str, supervisor: str, push: Push
    ) -> Callable[[], Awaitable[None]]:
        self._live(contact_id)
        self.readers[supervisor] = push
        push({"type": "chat", **await self.thread(contact_id)})

        async def stop(reason: str = "stopped") -> None:
            self.stopped.append(supervisor)
            self.reasons.append(reason)
            push({"type": "ended", "contact_id": contact_id, "reason": reason})

        return stop

    async def whisper(self, contact_id: str, supervisor: str, text: object) -> dict[str, Any]:
        if not isinstance(text, str) or not text.strip():
            raise BadCommand('"text" must be a non-empty text')
        self._live(contact_id)
        self.notes.append(text)
        for push in self.readers.values():
            push({"type": "note", "contact_id": contact_id, "note": {"text": text}})
        return {"from": supervisor, "text": text, "private": True}

    async def take_over(
        self, contact_id: str, supervisor: str, desk_agent: str | None
    ) -> dict[str, Any]:
        self._live(contact_id)
        if desk_agent is None:
            raise Conflict(f"{supervisor} has no desk to take the chat to")
        return {"contact_id": contact_id, "agent": desk_agent, "from_agent": "judy"}


class Claims:
    def __init__(self, held: set[str]) -> None:
        self.held = held

    def holds(self, session_id: str) -> bool:
        return session_id in self.held


def process(nc: Any, runs: bool) -> ChatCluster:
    """A web process's chat cluster: running chat s1 (contact c1), or none."""
    chat = SimpleNamespace(id="s1", contact_id="c1")
    bridge = SimpleNamespace(
        hub=SimpleNamespace(),
        by_contact={"c1": chat} if runs else {},
        live={"s1": chat} if runs else {},
        chats=SimpleNamespace(open_sessions=lambda: asyncio.sleep(0, [])),
    )
    claims = Claims({"s1"} if runs else set())
    return ChatCluster(nc, "d", cast(ChatBridge, bridge), cast(ChatClaims, claims))


@pytest.fixture
async def pair(nats_server: NatsServer) -> AsyncIterator[tuple[Any, Any, FakeMonitors]]:
    nc_a = await connect([nats_server.url], "a")
    nc_b = await connect([nats_server.url], "b")
    a, b = process(nc_a, True), process(nc_b, False)
    here = FakeMonitors()
    on_a = ClusterChatMonitors(a, cast(ChatMonitors, here), "web-a")
    on_b = ClusterChatMonitors(b, cast(ChatMonitors, FakeMonitors()), "web-b")
    await a.runs(cast(Any, a.bridge.live["s1"]), "c1")  # a answers c1's requests
    await settle(nc_a)
    try:
        yield on_a, on_b, here
    finally:
        await a.stop()
        await b.stop()
        await nc_a.close()
        await nc_b.close()


async def test_a_supervisor_on_another_process_reads_whispers_and_takes_over(
    pair: tuple[ClusterChatMonitors, ClusterChatMonitors, FakeMonitors],
) -> None:
    on_a, on_b, here = pair
    thread = await on_b.thread("c1")
    assert thread["agent"] == "judy" and thread["server"] == "web-a"  # run by a
    frames: list[dict[str, Any]] = []
    stop = await on_b.read("c1", "sue", frames.append)
    note = await on_b.whisper("c1", "sue", "offer the voucher")
    assert note == {"from": "sue", "text": "offer the voucher", "private": True}
    assert here.notes == ["offer the voucher"]  # kept where the chat runs
    moved = await on_b.take_over("c1", "tess", "tess")
    assert moved == {"contact_id": "c1", "agent": "tess", "from_agent": "judy"}
    await stop()
    assert here.stopped == ["sue"] and on_a.serving == {}
    for _ in range(50):
        if frames and frames[-1]["type"] == "ended":
            break
        await asyncio.sleep(0.02)
    assert [f["type"] for f in frames] == ["chat", "note", "ended"], frames  # in order


async def test_refusals_come_back_with_their_status_and_words(
    pair: tuple[ClusterChatMonitors, ClusterChatMonitors, FakeMonitors],
) -> None:
    _on_a, on_b, here = pair
    with pytest.raises(BadCommand, match='"text" must be a non-empty text'):
        await on_b.whisper("c1", "sue", "  ")
    with pytest.raises(Conflict, match="sue has no desk to take the chat to"):
        await on_b.take_over("c1", "sue", None)
    # Open nowhere (no process answers, and no open chat to take over here): 404.
    with pytest.raises(NotFound, match="contact c9 has no live chat with an agent"):
        await on_b.thread("c9")
    with pytest.raises(NotFound, match="contact c9 has no live chat with an agent"):
        await on_b.read("c9", "sue", lambda frame: None)
    assert here.notes == [] and here.readers == {}  # nothing changed
    subjects = [sub.subject for sub in on_b.cluster.nc._subs.values()]
    assert not [s for s in subjects if ".reader." in s], subjects  # the refused reader's


async def test_the_process_running_the_chat_serves_its_own_supervisors_directly(
    pair: tuple[ClusterChatMonitors, ClusterChatMonitors, FakeMonitors],
) -> None:
    on_a, _on_b, here = pair
    thread = await on_a.thread("c1")
    assert thread["server"] == "web-a"
    await on_a.whisper("c1", "sue", "here")
    assert here.notes == ["here"]


async def test_a_chat_taken_over_gets_its_notes_back_from_the_log() -> None:
    """The process that ran the chat died with its notes in memory: the process taking
    it over reads them back from `chat.whisper` (before its agent's desk gets the
    thread again); notes it has already are kept as they are."""
    from datetime import UTC, datetime

    from hotline.store.records import LoggedEvent

    at = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)

    class Store:
        async def events(self, contact_id: str) -> list[LoggedEvent]:
            data = {"supervisor": "sue", "agent": "alice", "text": "offer the voucher"}
            return [
                LoggedEvent(1, contact_id, at, "chat.message", None, "alice", {}),
                LoggedEvent(2, contact_id, at, "chat.whisper", None, "alice", data),
            ]

    local = SimpleNamespace(notes={}, store=Store())
    monitors = ClusterChatMonitors(
        process(SimpleNamespace(), False), cast(ChatMonitors, local), "web-b"
    )
    await monitors.carried_on("c1")
    note = {"from": "sue", "text": "offer the voucher", "private": True, "at": at.isoformat()}
    assert local.notes == {"c1": [note]}
    local.notes["c1"] = [{"text": "newer"}]
    await monitors.carried_on("c1")
    assert local.notes == {"c1": [{"text": "newer"}]}


async def test_a_reading_ends_when_the_chats_process_is_gone(
    pair: tuple[ClusterChatMonitors, ClusterChatMonitors, FakeMonitors],
) -> None:
    """Process a dies while sue reads its chat from b: her page is told the reading
    ended (the chat open nowhere here), not left waiting for frames that never come; a
    reading that goes on is not ended by the checks."""
    on_a, on_b, _here = pair
    on_b.check_every = 0.05
    frames: list[dict[str, Any]] = []
    stop = await on_b.read("c1", "sue", frames.append)
    await asyncio.sleep(0.3)  # a few checks: a answers that the reading goes on
    assert [f["type"] for f in frames] == ["chat"]
    await on_a.cluster.stop()  # a gone: nobody answers for c1 any more
    for _ in range(500):  # a few checks; up to 10 s on a loaded machine
        if frames[-1]["type"] == "ended":
            break
        await asyncio.sleep(0.02)
    assert frames[-1] == {"type": "ended", "contact_id": "c1", "reason": "chat_ended"}
    # Logged by b (a, dead, could not): who read, whose chat, why it ended.
    logged = on_b.local.store.appended  # type: ignore[attr-defined]
    for _ in range(100):
        if logged:
            break
        await asyncio.sleep(0.02)
    assert len(logged) == 1
    contact_id, type_, data, agent = logged[0]
    assert (contact_id, type_, agent) == ("c1", "monitor.ended", "judy")
    assert data["supervisor"] == "sue" and data["agent"] == "judy"
    assert data["reason"] == "chat_process_gone" and data["modes"] == {"read": data["seconds"]}
    await stop()


async def test_a_reading_ended_where_the_chat_runs_is_not_logged_twice(
    pair: tuple[ClusterChatMonitors, ClusterChatMonitors, FakeMonitors],
) -> None:
    """The chat left its agent on a: a ends the reading (and logs it there); b's checks
    then learn it ended there, and b logs nothing."""
    _on_a, on_b, here = pair
    on_b.check_every = 0.05
    frames: list[dict[str, Any]] = []
    await on_b.read("c1", "sue", frames.append)
    here.readers["sue"]({"type": "ended", "contact_id": "c1", "reason": "chat_ended"})
    for _ in range(100):
        if frames[-1]["type"] == "ended":
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # several checks after the end
    assert [f["type"] for f in frames] == ["chat", "ended"], frames  # told once
    assert on_b.local.store.appended == []  # type: ignore[attr-defined]


async def test_a_reading_whose_pages_process_died_ends_where_the_chat_runs(
    pair: tuple[ClusterChatMonitors, ClusterChatMonitors, FakeMonitors],
) -> None:
    """Sue's page's process (b) dies while she reads a's chat: its checks stop, so a
    ends the reading within its lease (a few check intervals) and logs why."""
    on_a, on_b, here = pair
    on_a.check_every = on_b.check_every = 0.2
    await on_b.read("c1", "sue", lambda frame: None)
    await asyncio.sleep(1.0)  # checked: goes on past its lease (0.5 s)
    assert here.stopped == [] and len(on_a.serving) == 1
    for task in asyncio.all_tasks():  # b gone: nobody checks the reading any more
        if task.get_name().startswith("chat-reader-"):
            task.cancel()
    lease = on_a.check_every * LEASE_CHECKS
    loop = asyncio.get_running_loop()
    gone = loop.time()
    while not here.stopped and loop.time() - gone < 10:
        await asyncio.sleep(0.01)
    assert here.stopped == ["sue"] and here.reasons == ["reader_gone"]
    assert loop.time() - gone < lease + 1.0
    assert on_a.serving == {} and on_a.checked == {}
