"""Supervisors monitoring live calls, in the REST API (`hotline/calls/monitor.py`):

    POST   /api/calls/{contact_id}/monitor       {"mode": "listen"|"whisper"|"barge"}
    POST   /api/calls/{contact_id}/monitor/stop
    DELETE /api/calls/{contact_id}/monitor
    GET    /api/calls/{contact_id}/monitor
    GET    /api/monitoring                        -> {"monitoring": [...]}

The first POST rings the supervisor's own phone and connects it as asked once
answered; a POST with another mode while monitoring switches mode, the phone staying
up. Answers are `{"monitor": {contact_id, supervisor, agent, mode, state, seconds}}`.
Only supervisors and admins may monitor: an agent gets 403. Refusals are
`{"error": "<clear text>"}`: 400 a bad body, 404 no live call (or nothing monitored),
409 the call is monitored by someone else, the supervisor already monitors another
call or has no phone. A refusal leaves the call as it was.

Live chats (chat_bridge/monitoring.py), supervisors and admins too:

    GET  /api/chats/{contact_id}/monitor      -> the thread so far, notes, agent, card
    GET  /api/chats/{contact_id}/monitor/ws   WebSocket: {"type": "chat", ...} then
                                              "message", "note" and "ended" frames
    POST /api/chats/{contact_id}/whisper      {"text": "..."} -> {"note": {...}}
    POST /api/chats/{contact_id}/take_over    -> {"contact_id", "agent", "from_agent"}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from hotline.calls import BadCommand, CallControlError, NotYours
from hotline.calls.monitor import Monitoring, parse_mode
from hotline.web.auth import Role, User, current_user, requires


def _supervisor(user: User) -> str:
    """The user's id, if they may monitor (NotYours: an agent)."""
    if not user.can(Role.SUPERVISOR):
        raise NotYours(
            f"only supervisors and admins may monitor calls; {user.id} is an {user.role}"
        )
    return user.id


async def _body(request: web.Request) -> object:
    raw = await request.read() if request.can_read_body else b""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise BadCommand('the body must be a JSON object like {"mode": "listen"}') from None


def _error(refused: CallControlError) -> web.Response:
    return web.json_response({"error": str(refused)}, status=refused.status)


class ChatMonitoring(Protocol):
    """Supervisors on live chats (chat_bridge.monitoring.ChatMonitors)."""

    async def thread(self, contact_id: str) -> dict[str, Any]: ...
    async def read(
        self, contact_id: str, supervisor: str, push: Callable[[dict[str, Any]], None]
    ) -> Callable[[], Awaitable[None]]: ...
    async def whisper(self, contact_id: str, supervisor: str, text: object) -> dict[str, Any]: ...
    async def take_over(
        self, contact_id: str, supervisor: str, desk_agent: str | None
    ) -> dict[str, Any]: ...


def add_monitor_routes(app: web.Application, monitors: Monitoring) -> None:
    """Before the call routes: `/api/calls/{id}/{action}` would take "monitor"."""

    # Open to agents so that they get a clear refusal, not only the role's.
    @requires(Role.AGENT)
    async def start(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        try:
            supervisor = _supervisor(current_user(request))
            mode = parse_mode(await _body(request))
            state = await monitors.monitor(contact_id, supervisor, mode)
        except CallControlError as refused:
            return _error(refused)
        return web.json_response({"monitor": state.to_json()})

    @requires(Role.AGENT)
    async def stop(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        try:
            user = current_user(request)
            supervisor = _supervisor(user)
            state = monitors.of_contact(contact_id)
            if state is not None and state.supervisor != supervisor and user.role != Role.ADMIN:
                raise NotYours(
                    f"contact {contact_id} is monitored by {state.supervisor}; "
                    "only they or an admin may stop it"
                )
            state = await monitors.stop(contact_id, supervisor)
        except CallControlError as refused:
            return _error(refused)
        return web.json_response({"monitor": state.to_json()})

    @requires(Role.AGENT)
    async def show(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        try:
            _supervisor(current_user(request))
        except CallControlError as refused:
            return _error(refused)
        state = monitors.of_contact(contact_id)
        if state is None:
            return web.json_response(
                {"error": f"contact {contact_id} is not being monitored"}, status=404
            )
        return web.json_response({"monitor": state.to_json()})

    @requires(Role.SUPERVISOR)
    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"monitoring": [m.to_json() for m in monitors.all()]})

    app.router.add_post("/api/calls/{contact_id}/monitor", start)
    app.router.add_post("/api/calls/{contact_id}/monitor/stop", stop)
    app.router.add_delete("/api/calls/{contact_id}/monitor", stop)
    app.router.add_get("/api/calls/{contact_id}/monitor", show)
    app.router.add_get("/api/monitoring", listing)


def add_chat_monitor_routes(app: web.Application, chats: ChatMonitoring) -> None:
    @requires(Role.AGENT)
    async def thread(request: web.Request) -> web.Response:
        try:
            _supervisor(current_user(request))
            frame = await chats.thread(request.match_info["contact_id"])
        except CallControlError as refused:
            return _error(refused)
        return web.json_response(frame, dumps=lambda d: json.dumps(d, default=str))

    @requires(Role.AGENT)
    async def read(request: web.Request) -> web.StreamResponse:
        contact_id = request.match_info["contact_id"]
        origin = request.headers.get("Origin")
        if origin is not None and origin not in (
            f"{request.scheme}://{request.host}",
            f"http://{request.host}",
        ):
            # The login cookie rides along on a socket any page could open: only ours may.
            return web.json_response({"error": f"not from {origin}"}, status=403)
        try:
            supervisor = _supervisor(current_user(request))
        except CallControlError as refused:
            return _error(refused)
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        async def writer() -> None:
            while (frame := await outbox.get()) is not None:
                await ws.send_str(json.dumps(frame, default=str, ensure_ascii=False))
                if frame.get("type") == "ended":
                    await ws.close()
                    return

        sender = asyncio.create_task(writer())
        stop: Callable[[], Awaitable[None]] | None = None
        try:
            try:
                stop = await chats.read(contact_id, supervisor, outbox.put_nowait)
            except CallControlError as refused:
                outbox.put_nowait(
                    {"type": "error", "status": refused.status, "error": str(refused)}
                )
                outbox.put_nowait({"type": "ended", "contact_id": contact_id, "reason": "refused"})
            async for msg in ws:  # read-only: the socket only tells when the page goes
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            if stop is not None:
                await stop()
            outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await sender
        return ws

    @requires(Role.AGENT)
    async def whisper(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        try:
            supervisor = _supervisor(current_user(request))
            body = await _body(request)
            if not isinstance(body, dict) or set(body) != {"text"}:
                raise BadCommand('the body must be {"text": "<the note>"}')
            note = await chats.whisper(contact_id, supervisor, body["text"])
        except CallControlError as refused:
            return _error(refused)
        return web.json_response({"contact_id": contact_id, "note": note})

    @requires(Role.AGENT)
    async def take_over(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        try:
            user = current_user(request)
            supervisor = _supervisor(user)
            moved = await chats.take_over(contact_id, supervisor, user.agent_id)
        except CallControlError as refused:
            return _error(refused)
        return web.json_response(moved)

    app.router.add_get("/api/chats/{contact_id}/monitor", thread)
    app.router.add_get("/api/chats/{contact_id}/monitor/ws", read)
    app.router.add_post("/api/chats/{contact_id}/whisper", whisper)
    app.router.add_post("/api/chats/{contact_id}/take_over", take_over)
