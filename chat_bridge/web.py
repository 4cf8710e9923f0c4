"""The web chat: the widget's WebSocket (/chat/ws), attachments (/chat/upload,
/chat/attachments/ID) and the demo page (/chat/demo). The widget itself is
hotline/web/static/chat/widget.js, served at /static/chat/widget.js.

Pages may use the widget from their own origin only if it is listed in
`web.allowed_origins` (the hotline's own pages always may): other origins get an
`origin_not_allowed` error frame and the socket is closed, before anything is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from chat_bridge.attachments import (
    AttachmentRefused,
    Attachments,
    download_key_ok,
    file_response,
)
from chat_bridge.bridge import ChatBridge, ChatRefused, UnknownSession
from chat_bridge.chat import LiveChat
from chat_bridge.protocol import (
    MAX_FRAME,
    AttachmentRef,
    Choice,
    Close,
    Hello,
    Ping,
    ProtocolError,
    Reopen,
    SharedLocation,
    Text,
    Typing,
    dumps,
    error_frame,
    parse,
)
from chat_bridge.ratelimit import TokenBucket
from hotline.messages import RichMessageError, dump, fallback_text, parse_rich
from hotline.store.chats import ChatNotHeld
from hotline.web.auth import STATIC_DIR, public
from hotline.web.desk import read_limited

log = logging.getLogger(__name__)

#: A client refused this many times in a row is flooding: the socket is closed.
FLOOD_CUTOFF = 50
#: Frames waiting for a slow client before it is disconnected (it resumes later).
OUTBOX_LIMIT = 1000
#: An outbox item that closes the socket once the frames before it are sent.
CLOSE = "__close__"


def origin_allowed(request: web.Request, allowed: Iterable[str]) -> bool:
    """No Origin (not a browser), our own origin, or one listed in web.allowed_origins."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    own = {f"{request.scheme}://{request.host}", f"http://{request.host}"}
    return origin in own or origin in set(allowed)


def _cors(request: web.Request, response: web.StreamResponse, allowed: Iterable[str]) -> None:
    origin = request.headers.get("Origin")
    if origin and origin in set(allowed):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Headers"] = (
            "Content-Type, X-Chat-Session, X-Filename"
        )
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"


class WidgetConnection:
    """One widget WebSocket: frames in, in order; frames out, through an outbox."""

    def __init__(self, bridge: ChatBridge, ws: web.WebSocketResponse) -> None:
        self.bridge = bridge
        self.ws = ws
        settings = bridge.settings
        self.bucket = TokenBucket(settings.rate, settings.burst)
        self.outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.chat: LiveChat | None = None
        #: The chat's live frames while its history is read (hello): sent after it.
        self.held: list[dict[str, Any]] | None = None

    def send(self, frame: dict[str, Any]) -> None:
        if self.outbox.qsize() > OUTBOX_LIMIT:
            self.outbox.put_nowait(None)  # too slow: cut it off; it resumes from its last seq
            return
        self.outbox.put_nowait(frame)

    async def writer(self) -> None:
        while True:
            frame = await self.outbox.get()
            if frame is None:
                await self.ws.close(code=4008, message=b"too slow")
                return
            if CLOSE in frame:  # after every frame queued before it
                await self.ws.close(code=frame[CLOSE], message=frame["reason"].encode())
                return
            await self.ws.send_str(dumps(frame))

    def deliver(self, frame: dict[str, Any]) -> None:
        """The chat's sink for this connection (held while its history is read)."""
        if self.held is not None:
            self.held.append(frame)
        else:
            self.send(frame)

    def error(self, code: str, message: str) -> None:
        self.send(error_frame(code, message))

    async def run(self) -> None:
        writer = asyncio.create_task(self.writer())
        detach = None
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    raw: str | bytes = msg.data
                elif msg.type == WSMsgType.BINARY:
                    self.error("bad_message", "frames are JSON text, not binary")
                    continue
                else:
                    break
                try:
                    message = parse(raw)
                except ProtocolError as error:
                    self.send(error.frame())
                    continue
                if not self.bucket.allow():
                    self.error("rate_limited", "too many messages; slow down (not stored)")
                    if self.bucket.refused >= FLOOD_CUTOFF:
                        self.outbox.put_nowait({CLOSE: 4029, "reason": "flooding"})
                        break
                    continue
                if self.chat is None:
                    if not isinstance(message, Hello):
                        self.error("not_ready", "send a hello frame first")
                        continue
                    detach = await self.hello(message)
                    continue
                await self.handle(self.chat, message)
        finally:
            if detach is not None:
                detach()
            self.outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 5)
            writer.cancel()

    async def hello(self, hello: Hello) -> Callable[[], None] | None:
        """Open or resume the chat: welcome, the messages after `last_seq`, then its
        live frames. Returns how to detach from the chat (None: refused)."""
        try:
            if hello.session:
                chat = await self.bridge.resume(hello.session)
            else:
                chat = await self.bridge.new_session(
                    "web", external_id=hello.visitor, language=hello.language, entry=hello.entry
                )
        except UnknownSession as error:
            self.error("unknown_session", str(error))
            return None
        except ChatRefused as error:
            self.error(error.code, str(error))
            return None
        self.chat = chat
        # Attached before the history is read: a message committed meanwhile reaches
        # this connection live (held until the history is out) if the read missed it.
        self.held = []
        detach = self.bridge.attach(chat, self.deliver)
        self.send(
            {
                "v": 1,
                "type": "welcome",
                "session": chat.token,
                "session_id": chat.id,
                "state": chat.state,
                "last_seq": chat.seq,
            }
        )
        last = hello.last_seq
        try:
            for message in await self.bridge.chats.messages(chat.id, after=hello.last_seq):
                self.send({"v": 1, "type": "message", **message.public()})
                last = max(last, message.seq)
        except BaseException:
            detach()
            raise
        finally:
            held, self.held = self.held or [], None
        for frame in held:  # the queue frame on attaching, and what came meanwhile
            if frame.get("type") == "message" and frame.get("seq", 0) <= last:
                continue  # in the history already
            self.send(frame)
        return detach

    async def handle(self, chat: LiveChat, message: Any) -> None:
        bridge = self.bridge
        try:
            if isinstance(message, Text):
                seq = await bridge.customer_message(chat, message.text, client_id=message.id)
                self.send({"v": 1, "type": "ack", "id": message.id, "seq": seq})
            elif isinstance(message, Choice):
                seq = await bridge.customer_message(
                    chat, message.value, client_id=message.id, choice=True
                )
                self.send({"v": 1, "type": "ack", "id": message.id, "seq": seq})
            elif isinstance(message, AttachmentRef):
                seq = await bridge.customer_attachment(chat, message.attachment, message.id)
                self.send({"v": 1, "type": "ack", "id": message.id, "seq": seq})
            elif isinstance(message, SharedLocation):
                located = await self._location(chat, message)
                if located is not None:
                    self.send({"v": 1, "type": "ack", "id": message.id, "seq": located})
            elif isinstance(message, Typing):
                await bridge.customer_typing(chat, message.on)
            elif isinstance(message, Close):
                await bridge.customer_close(chat)
            elif isinstance(message, Reopen):
                if chat.state == "closed":
                    await bridge.start_contact(chat, "chat.reopened")
            elif isinstance(message, Ping):
                self.send({"v": 1, "type": "pong"})
            elif isinstance(message, Hello):
                self.error("bad_message", "hello is only sent once per connection")
        except ChatRefused as error:
            self.error(error.code, str(error))
        except ChatNotHeld:  # a stale copy here (issue #20): nothing stored, sent again
            self.error("moved", "this chat moved to another server; your message is sent again")

    async def _location(self, chat: LiveChat, message: SharedLocation) -> int | None:
        """A location the customer shared, stored as a rich location message (as one
        shared on Telegram); None, and an error frame, if it is refused."""
        try:
            shared = parse_rich(
                {"type": "location", "latitude": message.latitude, "longitude": message.longitude}
            )
        except RichMessageError as error:
            self.error("bad_message", f"{error}; not stored")
            return None
        return await self.bridge.customer_message(
            chat,
            fallback_text(shared),
            client_id=message.id,
            data={"rich": dump(shared)},
            kind="location",
        )


def add_chat_routes(
    app: web.Application,
    bridge: ChatBridge,
    attachments: Attachments,
    allowed_origins: Iterable[str] = (),
) -> None:
    """The widget's endpoints; all public (the widget's session token is its key)."""
    allowed = tuple(allowed_origins)
    sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    async def close_sockets(_app: web.Application) -> None:
        for ws in list(sockets):
            await ws.close(code=1001, message=b"server stopping")

    app.on_shutdown.append(close_sockets)

    @public
    async def socket(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME * 64)
        await ws.prepare(request)
        sockets.add(ws)
        if not origin_allowed(request, allowed):
            origin = request.headers.get("Origin")
            await ws.send_str(
                dumps(
                    error_frame(
                        "origin_not_allowed",
                        f"the chat may not be used from {origin}; "
                        "add it to web.allowed_origins to allow it",
                    )
                )
            )
            await ws.close(code=4003, message=b"origin not allowed")
            return ws
        await WidgetConnection(bridge, ws).run()
        return ws

    async def _session(request: web.Request) -> LiveChat:
        token = request.headers.get("X-Chat-Session") or request.query.get("session", "")
        if not token or len(token) > 100:
            raise ChatRefused("unknown_session", "no chat session given")
        try:
            return await bridge.resume(token)
        except UnknownSession as error:
            raise ChatRefused("unknown_session", str(error)) from None

    def _refusal(request: web.Request, code: str, message: str, status: int) -> web.Response:
        response = web.json_response({"error": message, "code": code}, status=status)
        _cors(request, response, allowed)
        return response

    @public
    async def upload(request: web.Request) -> web.StreamResponse:
        if not origin_allowed(request, allowed):
            return _refusal(request, "origin_not_allowed", "uploads from this page refused", 403)
        try:
            chat = await _session(request)
        except ChatRefused as error:
            return _refusal(request, error.code, str(error), 404)
        limit = attachments.max_bytes
        declared = request.content_length
        if declared is not None and declared > limit:
            return _refusal(request, "too_large", f"the file is over {limit} bytes", 413)
        body = await read_limited(request, limit)  # the whole file, not its first chunk
        if body is None:
            return _refusal(request, "too_large", f"the file is over {limit} bytes", 413)
        name = unquote(request.headers.get("X-Filename", "file"))
        try:
            saved = await attachments.save(
                chat.id, name, request.headers.get("Content-Type", ""), body
            )
        except AttachmentRefused as error:
            return _refusal(request, error.code, str(error), 415 if "type" in error.code else 400)
        response = web.json_response(
            {"id": saved.id, "filename": saved.filename, "size": saved.size}
        )
        _cors(request, response, allowed)
        return response

    @public
    async def preflight(request: web.Request) -> web.StreamResponse:
        response = web.Response(status=204)
        _cors(request, response, allowed)
        return response

    @public
    async def download(request: web.Request) -> web.StreamResponse:
        key = request.query.get("key")
        if key is not None:  # a link sent to a channel without files (its own key)
            found = await bridge.chats.attachment(request.match_info["id"][:36])
            secret = bridge.settings.webhook.secret
            if found is None or not download_key_ok(secret, found.id, key):
                return _refusal(request, "not_found", "no such attachment", 404)
            return await file_response(attachments, found)
        try:
            chat = await _session(request)
        except ChatRefused as error:
            return _refusal(request, error.code, str(error), 404)
        found = await bridge.chats.attachment(request.match_info["id"][:36])
        if found is None or found.session_id != chat.id:
            return _refusal(request, "not_found", "no such attachment in this chat", 404)
        return await file_response(attachments, found)

    @public
    async def demo(request: web.Request) -> web.StreamResponse:
        """The demo page; /chat/demo/NAME starts chats at the entry NAME."""
        entry = request.match_info.get("entry")
        if entry is None:
            return web.FileResponse(STATIC_DIR / "chat" / "demo.html")
        if entry not in bridge.settings.entries:
            raise web.HTTPNotFound(text=f"no chat entry named {entry[:64]!r}")
        page = (STATIC_DIR / "chat" / "demo.html").read_text(encoding="utf-8")
        tag = '<script src="/static/chat/widget.js" defer data-open="true"'
        page = page.replace(tag, f'{tag} data-entry="{entry}"', 1)
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/chat/ws", socket)
    app.router.add_post("/chat/upload", upload)
    app.router.add_route("OPTIONS", "/chat/upload", preflight)
    app.router.add_get("/chat/attachments/{id}", download)
    app.router.add_get("/chat/demo", demo)
    app.router.add_get("/chat/demo/{entry}", demo)
