"""The agent desk: /desk (page) and /desk/ws (its WebSocket), for logged-in agents.

On the socket the desk sets the agent's state per channel (voice and chat apart) and
pauses with a reason; gets offers (chats from the chat bridge, calls as a screen pop
from the event log's contact.offer) and answers them; holds chat tabs; sends
messages, transfers and closes with a wrap-up code. The chats themselves are the chat
bridge's (`ChatDesk`, implemented in chat_bridge/agents.py): the core only knows this
interface. The desk's socket open counts as the agent's chat channel being reachable;
when the agent's last desk closes, chat is paused "unreachable" until one reopens.

Desk to server: {type: presence, action, channel, reason} | accept | reject
{contact_id} | send {contact_id, id, text} | typing {contact_id, on} | close
{contact_id, wrap_up} | transfer {contact_id, queue} | sync {chats: {contact_id: seq}}.
Server to desk: hello, service {problems} (the database or the routing engine
unreachable: hotline/service_health.py; also in hello), presence, offer, offer_gone,
chat, message, typing, customer_left, chat_closed, screen_pop, screen_pop_end, call
{call, card} (a call offered to or held by the agent: hotline/web/desk_calls.py; sent
again on each step and to a desk opened during the call), call_ended {contact_id},
error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from hotline.acd.model import Channel
from hotline.acd.presence import PresenceError, agent_view, change_presence
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService
from hotline.calls import CallControl
from hotline.contacts.wrapup import WrapUps
from hotline.messages import MAX_FILE_BYTES
from hotline.service_health import ServiceHealth
from hotline.store import LoggedEvent, Store
from hotline.store.chats import ChatStore, customer_card
from hotline.web.auth import STATIC_DIR, Role, current_user, requires
from hotline.web.desk_calls import LiveCall, LiveCalls

log = logging.getLogger(__name__)

Push = Callable[[dict[str, Any]], None]
MAX_FRAME = 16 * 1024
MAX_TEXT = 4000

#: Call-channel events that end a screen pop (the offer is over one way or another).
_POP_ENDS = frozenset({"agent.release", "agent.no_answer", "agent.reject", "agent.finish"})
#: A call's live transcript: each line, and its early end, pushed to the desk.
_TRANSCRIPT = frozenset({"call.transcribed", "call.transcription_stopped"})


class DeskRefused(Exception):
    """What the agent asked cannot be done; the message says why."""


class ChatDesk(Protocol):
    """The chat side of the desk (chat_bridge.agents.AgentHub)."""

    def subscribe(self, agent: str, push: Push) -> Callable[[], None]: ...
    async def snapshot(self, agent: str) -> list[dict[str, Any]]: ...
    async def accept(self, agent: str, contact_id: str) -> dict[str, Any]: ...
    async def reject(self, agent: str, contact_id: str) -> None: ...
    async def history(self, agent: str, contact_id: str, after: int) -> dict[str, Any]: ...
    async def send(
        self,
        agent: str,
        contact_id: str,
        text: str,
        client_id: str | None,
        rich: dict[str, Any] | None = None,
    ) -> int: ...
    async def send_file(
        self, agent: str, contact_id: str, filename: str, content_type: str, body: bytes
    ) -> int: ...
    def typing(self, agent: str, contact_id: str, on: bool) -> None: ...
    async def close(self, agent: str, contact_id: str, wrap_up: str) -> None: ...
    async def transfer(
        self, agent: str, contact_id: str, queue: str | None = None, to_agent: str | None = None
    ) -> None: ...
    async def attachment(self, agent: str, attachment_id: str) -> web.StreamResponse | None: ...


class Desks:
    """Open desk sockets per agent; screen pops and state changes from the event log."""

    def __init__(
        self,
        store: Store,
        routing: RoutingService,
        chat: ChatDesk | None,
        *,
        agents: Mapping[str, str],
        pause_reasons: Sequence[str],
        wrap_up_codes: Sequence[str],
        queues: Sequence[str],
    ) -> None:
        self.store = store
        self.chats = ChatStore(store)
        self.routing = routing
        self.chat = chat
        self.agents = dict(agents)
        self.pause_reasons = list(pause_reasons)
        self.wrap_up_codes = list(wrap_up_codes)
        self.queues = list(queues)
        self.sockets: dict[str, set[Push]] = {}
        self.calls = LiveCalls()
        #: Calls' wrap-up codes per queue, and the call control (hold, transfer...) whose
        #: state the call panel shows (both set by the composition root).
        self.wrap_ups: WrapUps | None = None
        self.control: CallControl | None = None
        self._events: asyncio.Queue[LoggedEvent] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None
        #: What is wrong with the database or the routing engine, shown on every desk.
        self.health: ServiceHealth | None = None

    def watch_health(self, health: ServiceHealth) -> None:
        """Every desk is told (frame `service`) when the services' problems change."""
        self.health = health

        def changed(problems: list[str]) -> None:
            for agent in list(self.sockets):
                self.push(agent, {"type": "service", "problems": problems})

        health.listen(changed)

    def start(self) -> None:
        self._unlisten = self.store.listen(self._events.put_nowait)
        self._task = asyncio.create_task(self._follow(), name="desk-events")

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def push(self, agent: str, frame: dict[str, Any]) -> None:
        for push in list(self.sockets.get(agent, ())):
            push(frame)

    async def _follow(self) -> None:
        try:
            await self.calls.seed(self.store)
        except Exception:
            log.exception("desk: the calls in progress could not be read back")
        while True:
            event = await self._events.get()
            try:
                await self._on_event(event)
            except Exception:
                log.exception("desk: event %s not shown", event.type)

    async def _on_event(self, event: LoggedEvent) -> None:
        changed = self.calls.apply(event)
        if changed is not None:
            what, call = changed
            if call.agent in self.sockets:
                if what == "call":
                    self.push(call.agent, await self.call_frame(call))
                else:
                    self.push(call.agent, {"type": "call_ended", "contact_id": call.contact_id})
        if event.type in _TRANSCRIPT and event.contact_id is not None:
            # A live transcript's line (ari_app/live_transcript.py), to the call's agent.
            live = self.calls.get(event.contact_id)
            if live is not None and live.agent in self.sockets:
                frame = {"type": "transcript", "contact_id": event.contact_id}
                self.push(live.agent, {**frame, "event": event.type, **event.data})
        agent = event.agent
        if agent is None or agent not in self.sockets:
            return
        channel = event.data.get("channel")
        if event.type == "contact.offer" and channel in ("voice", "callback") and event.contact_id:
            card = await customer_card(self.store, self.chats, event.contact_id)
            self.push(
                agent,
                {
                    "type": "screen_pop",
                    "channel": channel,
                    "contact_id": event.contact_id,
                    "queue": event.queue,
                    "card": card,
                },
            )
        elif event.type in _POP_ENDS and channel in ("voice", "callback"):
            self.push(agent, {"type": "screen_pop_end", "contact_id": event.contact_id})
        if event.type.startswith("agent."):
            self.push(agent, self.presence(agent))

    async def call_frame(self, call: LiveCall) -> dict[str, Any]:
        """A call on the desk: where it stands and the customer's card."""
        card = await customer_card(self.store, self.chats, call.contact_id)
        view = call.view(datetime.now(UTC))
        if self.wrap_ups is not None:
            view["wrap_up_codes"] = self.wrap_ups.codes(call.queue)
            view["wrap_up_required"] = self.wrap_ups.required(call.queue)
        else:
            view["wrap_up_codes"], view["wrap_up_required"] = self.wrap_up_codes, False
        state = None if self.control is None else self.control.state(call.contact_id)
        view["control"] = None if state is None else state.to_json()
        return {"type": "call", "call": view, "card": card}

    async def calls_of(self, agent: str) -> list[dict[str, Any]]:
        """The agent's calls now, for a desk that opens during them; and the call whose
        required wrap-up code they still owe (the wrap-up form, after a reload)."""
        frames = [await self.call_frame(call) for call in self.calls.of_agent(agent)]
        owed = None if self.wrap_ups is None else self.wrap_ups.pending(agent)
        if self.wrap_ups is not None and owed is not None and self.calls.get(owed) is None:
            queue = self.wrap_ups.pending_queue(agent)
            call = {
                "contact_id": owed,
                "channel": "voice",
                "queue": queue,
                "phase": "wrap_up",
                "waited": None,
                "seconds": None,
                "wrap_up_codes": self.wrap_ups.codes(queue),
                "wrap_up_required": True,
                "control": None,
            }
            card = await customer_card(self.store, self.chats, owed)
            frames.append({"type": "call", "call": call, "card": card})
        return frames

    def presence(self, agent: str) -> dict[str, Any]:
        try:
            channels = agent_view(self.routing, agent)
        except PresenceError:
            channels = {}
        return {"type": "presence", "channels": channels}

    async def connect(self, agent: str, push: Push) -> Callable[[], Any]:
        first = not self.sockets.get(agent)
        self.sockets.setdefault(agent, set()).add(push)
        unsubscribe = self.chat.subscribe(agent, push) if self.chat else (lambda: None)
        if first:
            await self._reachable(agent, True)

        async def disconnect() -> None:
            unsubscribe()
            sockets = self.sockets.get(agent)
            if sockets is not None:
                sockets.discard(push)
                if not sockets:
                    del self.sockets[agent]
                    await self._reachable(agent, False)

        return disconnect

    async def _reachable(self, agent: str, yes: bool) -> None:
        with contextlib.suppress(RoutingError, ValueError):
            if Channel.CHAT in self.routing.agent_status(agent):
                await self.routing.reachable(agent, Channel.CHAT, yes)

    def hello(self, agent: str) -> dict[str, Any]:
        return {
            "type": "hello",
            "agent": agent,
            "name": self.agents.get(agent, agent),
            "pause_reasons": self.pause_reasons,
            "wrap_up_codes": self.wrap_up_codes,
            "queues": self.queues,
            "agents": {k: v for k, v in self.agents.items() if k != agent},
            "channels": self.presence(agent)["channels"],
            "service": self.health.problems if self.health is not None else [],
        }

    async def handle(self, agent: str, frame: dict[str, Any], push: Push) -> None:
        """One frame from the agent's desk; DeskRefused (and the hub's errors) say why not."""
        kind = frame.get("type")
        contact_id = _text(frame, "contact_id", 36, required=kind not in ("presence", "sync"))
        if kind == "presence":
            channel = _text(frame, "channel", 16)
            channels = None if channel in (None, "all") else [channel]
            try:
                view = await change_presence(
                    self.routing,
                    agent,
                    _text(frame, "action", 16, required=True) or "",
                    reason=_text(frame, "reason", 40),
                    channels=channels,
                )
            except (PresenceError, ValueError) as error:
                raise DeskRefused(str(error)) from None
            push({"type": "presence", "channels": view})
            return
        chat = self.chat
        if chat is None:
            raise DeskRefused("chat is not enabled on this hotline")
        assert contact_id is not None or kind == "sync"
        if kind == "accept":
            await chat.accept(agent, contact_id or "")
        elif kind == "reject":
            await chat.reject(agent, contact_id or "")
        elif kind == "send":
            rich = frame.get("rich")  # a card, link or image (hotline/messages.py)
            if rich is not None and not isinstance(rich, dict):
                raise DeskRefused("send: rich must be an object with a type")
            text = _text(frame, "text", MAX_TEXT, required=rich is None) or ""
            if rich is None and not text.strip():
                raise DeskRefused("an empty message is not sent")
            seq = await chat.send(agent, contact_id or "", text, _text(frame, "id", 64), rich)
            push({"type": "sent", "contact_id": contact_id, "id": frame.get("id"), "seq": seq})
        elif kind == "typing":
            chat.typing(agent, contact_id or "", bool(frame.get("on")))
        elif kind == "close":
            await chat.close(
                agent, contact_id or "", _text(frame, "wrap_up", 64, required=True) or ""
            )
        elif kind == "transfer":
            queue, to_agent = _text(frame, "queue", 64), _text(frame, "agent", 64)
            if (queue is None) == (to_agent is None):
                raise DeskRefused("transfer: give a queue or an agent")
            await chat.transfer(agent, contact_id or "", queue, to_agent)
        elif kind == "sync":
            seen = frame.get("chats") or {}
            if not isinstance(seen, dict):
                raise DeskRefused("sync: chats must be {contact_id: last seq}")
            for item in await chat.snapshot(agent):
                after = seen.get(item.get("contact_id"))
                if item["type"] == "chat" and isinstance(after, int):
                    item = await chat.history(agent, item["contact_id"], after)
                push(item)
        else:
            raise DeskRefused(f"unknown request type {kind!r}")


def _text(frame: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str | None:
    value = frame.get(name)
    if value is None:
        if required:
            raise DeskRefused(f"{frame.get('type')}: {name} is missing")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise DeskRefused(f"{frame.get('type')}: {name} must be text of at most {limit} characters")
    return value


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None once it is over `limit` bytes. (content.read(n) returns
    as soon as some bytes are there: a large upload would be cut at its first chunk.)"""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def add_desk_routes(app: web.Application, desks: Desks) -> None:
    """The desk page, its socket, and chat attachments for agents."""
    sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    async def close_sockets(_app: web.Application) -> None:
        for ws in list(sockets):
            await ws.close(code=1001, message=b"server stopping")

    app.on_shutdown.append(close_sockets)

    @requires(Role.AGENT)
    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "desk" / "desk.html")

    @requires(Role.AGENT)
    async def socket(request: web.Request) -> web.StreamResponse:
        user = current_user(request)
        origin = request.headers.get("Origin")
        if origin is not None and origin not in (
            f"{request.scheme}://{request.host}",
            f"http://{request.host}",
        ):
            # The login cookie rides along on a socket any page could open: only ours may.
            return web.json_response(
                {"error": f"the desk may not be opened from {origin}"}, status=403
            )
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME * 4)
        await ws.prepare(request)
        sockets.add(ws)
        agent = user.agent_id
        if agent is None:
            await ws.send_json({"type": "error", "message": "only agents have a desk"})
            await ws.close(code=4003)
            return ws
        outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def writer() -> None:
            while (frame := await outbox.get()) is not None:
                await ws.send_str(json.dumps(frame, default=str, ensure_ascii=False))

        sender = asyncio.create_task(writer())
        disconnect = await desks.connect(agent, outbox.put_nowait)
        try:
            outbox.put_nowait(desks.hello(agent))
            for frame in await desks.calls_of(agent):
                outbox.put_nowait(frame)
            if desks.chat is not None:
                for frame in await desks.chat.snapshot(agent):
                    outbox.put_nowait(frame)
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                try:
                    if len(msg.data) > MAX_FRAME:
                        raise DeskRefused(f"frame over {MAX_FRAME} bytes")
                    try:
                        frame = json.loads(msg.data)
                    except (ValueError, RecursionError):  # nested too deep
                        raise DeskRefused("frames are JSON objects") from None
                    if not isinstance(frame, dict):
                        raise DeskRefused("frames are JSON objects")
                    await desks.handle(agent, frame, outbox.put_nowait)
                except DeskRefused as error:
                    outbox.put_nowait({"type": "error", "message": str(error)})
                except Exception:  # told, logged, never fatal to the desk
                    log.exception("desk of %s: request failed", agent)
                    outbox.put_nowait({"type": "error", "message": "that failed; try again"})
        finally:
            await disconnect()
            outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sender, 5)
            sender.cancel()
        return ws

    @requires(Role.AGENT)
    async def attachment(request: web.Request) -> web.StreamResponse:
        user = current_user(request)
        if desks.chat is None or user.agent_id is None:
            raise web.HTTPNotFound()
        response = await desks.chat.attachment(user.agent_id, request.match_info["id"][:36])
        if response is None:
            return web.json_response({"error": "no such attachment on your desk"}, status=404)
        return response

    @requires(Role.AGENT)
    async def send_file(request: web.Request) -> web.StreamResponse:
        """A file the agent sends into an open chat: the body as it is, its name in
        X-Filename (URL-encoded), its type in Content-Type."""
        user = current_user(request)
        if desks.chat is None or user.agent_id is None:
            raise web.HTTPNotFound()
        limit = MAX_FILE_BYTES
        body = None
        if (request.content_length or 0) <= limit:
            body = await read_limited(request, limit)
        if body is None:
            return web.json_response({"error": f"the file is over {limit} bytes"}, status=413)
        try:
            seq = await desks.chat.send_file(
                user.agent_id,
                request.match_info["contact"][:64],
                unquote(request.headers.get("X-Filename", "file"))[:200],
                request.headers.get("Content-Type", ""),
                body,
            )
        except DeskRefused as error:
            return web.json_response({"error": str(error)}, status=422)
        return web.json_response({"seq": seq})

    app.router.add_post("/desk/chats/{contact}/files", send_file)
    app.router.add_get("/desk", page)
    app.router.add_get("/desk/ws", socket)
    app.router.add_get("/desk/attachments/{id}", attachment)
