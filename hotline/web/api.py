"""The REST API: health, live status and the contact event log, behind a bearer token."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from hotline.store import Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ApiStatus:
    ari_connected: bool
    ami_connected: bool
    active_calls: int
    agents: dict[str, str] = field(default_factory=dict)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    import json

    return json.dumps(data, default=str)


def _auth(token: str) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in ("/", "/api/health"):
            return await handler(request)
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            return _json({"error": "authentication required (Authorization: Bearer …)"}, 401)
        return await handler(request)

    return middleware


def build_api(store: Store, status: Callable[[], ApiStatus], token: str) -> web.Application:
    app = web.Application(middlewares=[_auth(token)], client_max_size=64 * 1024)

    async def index(request: web.Request) -> web.Response:
        return web.Response(
            text="Hotline is running. API: /api/health, /api/status, /api/contacts "
            "(Authorization: Bearer <api_token from .hotline/secrets.yaml>)\n"
        )

    async def health(request: web.Request) -> web.Response:
        current = status()
        return _json({"ok": current.ari_connected, "ari": current.ari_connected})

    async def live(request: web.Request) -> web.Response:
        return _json(asdict(status()))

    async def contacts(request: web.Request) -> web.Response:
        try:
            limit = min(max(int(request.query.get("limit", "50")), 1), 500)
        except ValueError:
            return _json({"error": "limit must be a whole number"}, 400)
        rows = await store.recent_contacts(limit)
        return _json([_plain(row) for row in rows])

    async def contact_events(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        if await store.contact(contact_id) is None:
            return _json({"error": f"no contact {contact_id}"}, 404)
        return _json([_plain(event) for event in await store.events(contact_id)])

    app.router.add_get("/", index)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/status", live)
    app.router.add_get("/api/contacts", contacts)
    app.router.add_get("/api/contacts/{contact_id}/events", contact_events)
    return app


def _plain(row: Any) -> dict[str, Any]:
    if hasattr(row, "__dataclass_fields__"):
        return asdict(row)
    return {k: v for k, v in vars(row).items() if not k.startswith("_")}
