"""Supervisors on a live chat (issue 18), over the real controller's WebSockets and REST
API: a customer's widget (entry "e2e", queue e2e_chat) talks with judy at her desk;
sue the supervisor reads it live, whispers a note to judy that the customer never
gets, and tess (a team lead: an agent with the supervisor role) takes it over to her
own desk, whole thread and notes included.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiohttp
import pytest

from hotline.store import Store
from hotline.store.chats import ChatStore
from tests.e2e.conftest import RunningHotline
from tests.e2e.test_chat_recovery import Socket, Widget, login, open_desk

pytestmark = pytest.mark.e2e

NOTE = "offer the 10% voucher, quietly"


async def contact_of(hotline: RunningHotline, session_id: str, timeout: float = 15) -> str:
    store = await Store.connect(hotline.database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            session = await ChatStore(store).session(session_id)
            if session is not None and session.contact_id:
                return session.contact_id
            await asyncio.sleep(0.1)
    finally:
        await store.close()
    raise AssertionError(f"chat {session_id} has no contact")


async def read_back(hotline: RunningHotline, contact_id: str, session_id: str) -> tuple:
    store = await Store.connect(hotline.database_url)
    try:
        events = await store.events(contact_id)
        messages = await ChatStore(store).messages(session_id)
    finally:
        await store.close()
    return events, messages


class Web:
    """One logged-in web user: REST calls and sockets on one cookie jar."""

    def __init__(self, hotline: RunningHotline, user: str) -> None:
        self.base = hotline.web_url
        self.user = user
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def __aenter__(self) -> Web:
        await login(self.http, self.base, self.user)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(
            method, f"{self.base}{path}", json=body, headers={"Origin": self.base}
        ) as response:
            return response.status, await response.json()

    async def socket(self, path: str) -> Socket:
        ws = await self.http.ws_connect(f"{self.base}{path}", headers={"Origin": self.base})
        return Socket(ws)


def test_read_whisper_and_take_over_a_live_chat(hotline: RunningHotline) -> None:
    asyncio.run(scenario(hotline))


async def scenario(hotline: RunningHotline) -> None:
    base = hotline.web_url
    async with (
        aiohttp.ClientSession() as customer_http,
        Web(hotline, "judy") as judy,
        Web(hotline, "sue") as sue,
        Web(hotline, "tess") as tess,
        Web(hotline, "carol") as carol,
    ):
        judy_desk = await open_desk(judy.http, base)
        sockets: list[Socket] = [judy_desk]
        desks = [judy_desk]
        try:
            await judy_desk.ws.send_json({"type": "presence", "action": "login", "channel": "chat"})
            widget = await Widget.open(customer_http, base, visitor="mon-chat-1", entry="e2e")
            sockets.append(widget)
            contact = await contact_of(hotline, widget.session_id)
            await judy_desk.wait(lambda f: f["type"] == "offer" and f["contact_id"] == contact)
            await judy_desk.ws.send_json({"type": "accept", "contact_id": contact})
            await widget.text("has joined")
            await widget.say("my order is late", "c1")

            # Who may read, and what.
            path = f"/api/chats/{contact}"
            got, answer = await carol.call("GET", f"{path}/monitor")
            assert got == 403 and "only supervisors and admins" in answer["error"], answer
            got, answer = await sue.call("GET", "/api/chats/no-such-contact/monitor")
            assert got == 404 and "no live chat" in answer["error"], answer
            got, thread = await sue.call("GET", f"{path}/monitor")
            assert got == 200 and thread["agent"] == "judy", thread
            assert any(m["text"] == "my order is late" for m in thread["messages"])

            # Reading live: the thread, then each message as it comes.
            reader = await sue.socket(f"{path}/monitor/ws")
            sockets.append(reader)
            first = await reader.wait(lambda f: f["type"] == "chat")
            assert first["contact_id"] == contact and first["agent"] == "judy"
            # judy's desk is told (monitoring.tell_agent: desk in the test config).
            told = await judy_desk.wait(lambda f: f["type"] == "monitored")
            assert (told["on"], told["mode"], told["supervisor"]) == (True, "read", "sue")
            await widget.say("it was due on Monday", "c2")
            await reader.wait(
                lambda f: f["type"] == "message" and f["message"]["text"] == "it was due on Monday"
            )
            await judy_desk.ws.send_json(
                {"type": "send", "contact_id": contact, "text": "Let me check", "id": "j1"}
            )
            await reader.wait(
                lambda f: f["type"] == "message" and f["message"]["text"] == "Let me check"
            )

            # Whisper: refused bodies first, then the note, for judy only.
            for body, says in (
                ({"text": ""}, '"text" must be a non-empty text'),
                ({"text": 5}, '"text" must be a non-empty text'),
                ({"note": "x"}, 'the body must be {"text"'),
                ({"text": "x" * 2001}, "at most 2000"),
            ):
                got, answer = await sue.call("POST", f"{path}/whisper", body)
                assert (got, says in answer.get("error", "")) == (400, True), (body, answer)
            got, answer = await carol.call("POST", f"{path}/whisper", {"text": "hi"})
            assert got == 403
            got, answer = await sue.call("POST", f"{path}/whisper", {"text": NOTE})
            assert got == 200 and answer["note"]["private"] is True, answer
            whisper = await judy_desk.wait(lambda f: f["type"] == "whisper")
            assert whisper["note"]["text"] == NOTE and whisper["note"]["from"] == "sue"
            await reader.wait(lambda f: f["type"] == "note" and f["note"]["text"] == NOTE)
            await judy_desk.ws.send_json(
                {"type": "send", "contact_id": contact, "text": "I can offer a voucher", "id": "j2"}
            )
            await widget.text("I can offer a voucher")

            # Take over: sue has no desk; tess has, and takes it.
            got, answer = await sue.call("POST", f"{path}/take_over")
            assert got == 409 and "sue has no desk" in answer["error"], answer
            tess_desk = await open_desk(tess.http, base)
            sockets.append(tess_desk)
            desks.append(tess_desk)
            got, answer = await tess.call("POST", f"{path}/take_over")
            assert got == 409 and "cannot take the chat now" in answer["error"], answer
            await tess_desk.ws.send_json({"type": "presence", "action": "login", "channel": "chat"})
            await tess_desk.wait(lambda f: f["type"] == "presence")
            await asyncio.sleep(0.3)
            got, answer = await tess.call("POST", f"{path}/take_over")
            assert got == 200, answer
            assert answer == {"contact_id": contact, "agent": "tess", "from_agent": "judy"}
            await judy_desk.wait(lambda f: f["type"] == "taken_over" and f["by"] == "tess")
            await judy_desk.wait(
                lambda f: f["type"] == "chat_closed" and f["contact_id"] == contact
            )
            tab = await tess_desk.wait(lambda f: f["type"] == "chat" and f["contact_id"] == contact)
            texts = [m["text"] for m in tab["messages"]]
            assert "my order is late" in texts and "I can offer a voucher" in texts
            assert [n["text"] for n in tab["notes"]] == [NOTE]
            ended = await reader.wait(lambda f: f["type"] == "ended")
            assert ended["reason"] == "taken_over"
            await widget.text("Tess Lead has joined")
            await tess_desk.ws.send_json(
                {"type": "send", "contact_id": contact, "text": "Tess here, all sorted", "id": "t1"}
            )
            await widget.text("Tess here, all sorted")
            got, answer = await tess.call("GET", f"{path}/monitor")
            assert got == 200 and answer["agent"] == "tess"

            # The customer never got the note: not live, not on reconnecting, not stored
            # in the thread.
            again = await Widget.open(customer_http, base, session=widget.token, last_seq=0)
            sockets.append(again)
            await again.text("Tess here, all sorted")
            for socket in (widget, again):
                assert not any(NOTE in str(frame) for frame in socket.frames)

            await tess_desk.ws.send_json(
                {"type": "close", "contact_id": contact, "wrap_up": "resolved"}
            )
            await tess_desk.wait(
                lambda f: f["type"] == "chat_closed" and f["contact_id"] == contact
            )
            await widget.ws.send_json({"v": 1, "type": "close"})
        finally:
            for desk in (s for s in sockets if s in desks):
                with contextlib.suppress(Exception):
                    await desk.ws.send_json(
                        {"type": "presence", "action": "logout", "channel": "chat"}
                    )
            await asyncio.sleep(0.3)
            for socket in sockets:
                await socket.close()

        events, messages = await read_back(hotline, contact, widget.session_id)
        assert not any(NOTE in m.text for m in messages)
        kinds = [e.type for e in events]
        (started,) = [e.data for e in events if e.type == "monitor.started"]
        assert started == {"supervisor": "sue", "agent": "judy", "mode": "read", "phone": ""}
        (note,) = [e.data for e in events if e.type == "chat.whisper"]
        assert note == {"supervisor": "sue", "agent": "judy", "text": NOTE}
        (taken,) = [e.data for e in events if e.type == "chat.taken_over"]
        assert taken == {"supervisor": "tess", "agent": "judy"}
        (moved,) = [e.data for e in events if e.type == "chat.transferred"]
        assert moved["to_agent"] == "tess" and moved["from_agent"] == "judy"
        (ended_event,) = [e.data for e in events if e.type == "monitor.ended"]
        assert ended_event["reason"] == "taken_over" and ended_event["supervisor"] == "sue"
        assert kinds.index("chat.whisper") < kinds.index("chat.taken_over")
