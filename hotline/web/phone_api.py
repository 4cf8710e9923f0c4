"""The desk's browser phone: the agent's SIP account, handed to their own desk session,
and the relay of its SIP-over-WebSocket traffic to Asterisk.

The browser never reaches Asterisk's HTTP server (it stays on loopback): the desk opens
`/desk/phone/ws` on Hotline's own origin (WSS when the web is HTTPS, `web.tls`), with
its login cookie, and Hotline relays each frame to Asterisk's WebSocket transport. The
relay closes when the login session ends (logout, idle, age), and with it the
registration: Asterisk removes a contact whose WebSocket closed. Media (DTLS-SRTP) goes
between the browser and Asterisk directly.

A page that goes away during a call without hanging up (a reload whose BYE did not
leave, a crashed tab, a lost network) leaves Asterisk a call it keeps: the relay's
closing is reported (`on_closed`) so that the controller ends the calls that phone
had, and the caller is not left talking to nobody.

The SIP password is the agent's own (one password per agent, whichever device): it is
given only to that agent's logged-in session, over `GET /api/phone/account`, never
shown in the page, and never cached (`Cache-Control: no-store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import WSMsgType, web

from hotline.web.auth import COOKIE, Role, current_user, requires

log = logging.getLogger(__name__)

#: A SIP message over WebSocket is far below this (an INVITE with SDP is a few kB).
MAX_FRAME = 64 * 1024
#: Close codes the desk's phone.js explains to the agent.
SESSION_ENDED = 4001
ALREADY_OPEN = 4009
ASTERISK_DOWN = 4503
#: Each close code's reason; a relay further on (a call worker's, for a web process)
#: closing with one of them is passed on to the page as it came.
CLOSE_REASONS = {
    SESSION_ENDED: b"login session ended",
    ALREADY_OPEN: b"browser phone already open elsewhere",
    ASTERISK_DOWN: b"telephony unavailable",
}


@dataclass(frozen=True)
class PhoneAccount:
    """An agent's browser-phone registration: its own PJSIP endpoint (`<endpoint>-web`)
    signing in with the agent's SIP user name and password."""

    endpoint: str
    auth_user: str
    password: str
    display_name: str


class BrowserPhones:
    """The accounts by agent, and one relay per agent to Asterisk's WebSocket."""

    def __init__(
        self,
        accounts: Mapping[str, PhoneAccount],
        asterisk_ws: str,
        session_alive: Callable[[str], Awaitable[bool]],
        check_every: float = 5.0,
        on_closed: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self.accounts = accounts
        #: Asterisk's SIP WebSocket (res_pjsip_transport_websocket), e.g. ws://127.0.0.1:8088/ws
        self.asterisk_ws = asterisk_ws
        self.session_alive = session_alive
        self.check_every = check_every
        #: Called with the agent once their phone's relay has closed: end what calls
        #: it left (controller/phone_calls.py).
        self.on_closed = on_closed
        #: agent -> the desk socket their browser phone relays through now
        self.open: dict[str, web.WebSocketResponse] = {}
        self._reporting: set[asyncio.Task[None]] = set()

    async def relay(self, request: web.Request, agent: str) -> web.WebSocketResponse:
        """Relay one desk's phone socket to Asterisk until either side closes."""
        ws = web.WebSocketResponse(protocols=("sip",), heartbeat=25, max_msg_size=MAX_FRAME)
        await ws.prepare(request)
        if agent in self.open:
            await ws.close(code=ALREADY_OPEN, message=CLOSE_REASONS[ALREADY_OPEN])
            return ws
        self.open[agent] = ws
        token = request.cookies.get(COOKIE, "")
        relayed = False
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                try:
                    upstream = await self.connect_upstream(http, agent, token)
                except (aiohttp.ClientError, TimeoutError, OSError) as error:
                    log.warning("browser phone of %s: Asterisk's WebSocket: %s", agent, error)
                    await ws.close(code=ASTERISK_DOWN, message=CLOSE_REASONS[ASTERISK_DOWN])
                    return ws
                relayed = True
                async with upstream:
                    await self._pump(ws, upstream, token, agent)
        finally:
            if self.open.get(agent) is ws:
                del self.open[agent]
            if relayed and self.on_closed is not None:
                # A task of its own: aiohttp cancels this handler when the desk's side
                # goes, and what the phone left must be ended all the same.
                task = asyncio.create_task(self._closed(agent))
                self._reporting.add(task)
                task.add_done_callback(self._reporting.discard)
            await ws.close()
        return ws

    async def connect_upstream(
        self, http: aiohttp.ClientSession, agent: str, token: str
    ) -> aiohttp.ClientWebSocketResponse[bool]:
        """The socket this agent's phone is relayed to: Asterisk's WebSocket here (a web
        process relays to a call worker's relay instead: controller/web_phones.py)."""
        return await http.ws_connect(
            self.asterisk_ws,
            protocols=("sip",),
            max_msg_size=MAX_FRAME,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10),
        )

    async def _closed(self, agent: str) -> None:
        if self.on_closed is None:
            return
        try:
            await self.on_closed(agent)
        except Exception:  # the relay is closed either way; say why the calls may stay
            log.exception("browser phone of %s: ending the calls it left failed", agent)

    async def _pump(
        self,
        ws: web.WebSocketResponse,
        upstream: aiohttp.ClientWebSocketResponse[bool],
        token: str,
        agent: str,
    ) -> None:
        async def up() -> None:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                await upstream.send_str(msg.data)

        async def down() -> None:
            async for msg in upstream:
                if msg.type != WSMsgType.TEXT:
                    break
                await ws.send_str(msg.data)

        async def session() -> None:
            """Returns when the login session has ended."""
            while await self.session_alive(token):
                await asyncio.sleep(self.check_every)

        watcher = asyncio.create_task(session())
        tasks = [asyncio.create_task(up()), asyncio.create_task(down()), watcher]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        # Closed here, once nothing reads the socket any more (a close while `up` reads
        # it would be cut short when `up` is cancelled).
        if watcher in done and not watcher.cancelled() and watcher.exception() is None:
            log.info("browser phone of %s: login session ended; closing", agent)
            await ws.close(code=SESSION_ENDED, message=CLOSE_REASONS[SESSION_ENDED])
        elif upstream.close_code in CLOSE_REASONS:
            code = upstream.close_code
            log.info("browser phone of %s: closed %d by the relay further on", agent, code)
            await ws.close(code=code, message=CLOSE_REASONS[code])


def add_phone_routes(app: web.Application, phones: BrowserPhones) -> None:
    """`GET /api/phone/account` (the agent's own session only) and `/desk/phone/ws`."""

    def same_origin(request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        # https too when this server sees http: a TLS-terminating proxy in front.
        return origin is None or origin in (
            f"{request.scheme}://{request.host}",
            f"https://{request.host}",
        )

    def refused(status: int, message: str) -> web.Response:
        return web.json_response(
            {"error": message}, status=status, headers={"Cache-Control": "no-store"}
        )

    @requires(Role.AGENT)
    async def account(request: web.Request) -> web.Response:
        user = current_user(request)
        if user.agent_id is None:
            return refused(403, "only agents have a browser phone")
        if not same_origin(request):
            return refused(403, "the phone account is given to the desk's own page only")
        found = phones.accounts.get(user.agent_id)
        if found is None:
            return refused(404, "you have no phone: ask for an endpoint in config/hotline.yaml")
        return web.json_response(
            {
                "agent": user.agent_id,
                "uri": f"sip:{found.endpoint}@{request.url.host or 'hotline'}",
                "authorization_user": found.auth_user,
                "password": found.password,
                "display_name": found.display_name,
                "socket": "/desk/phone/ws",
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    @requires(Role.AGENT)
    async def socket(request: web.Request) -> web.StreamResponse:
        user = current_user(request)
        if not same_origin(request):
            # The login cookie rides along on a socket any page could open: only ours may.
            return refused(403, f"the phone may not be opened from {request.headers['Origin']}")
        if user.agent_id is None or user.agent_id not in phones.accounts:
            return refused(403, "only agents with a phone have a browser phone")
        return await phones.relay(request, user.agent_id)

    app.router.add_get("/api/phone/account", account)
    app.router.add_get("/desk/phone/ws", socket)
