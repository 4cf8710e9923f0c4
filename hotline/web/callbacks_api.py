"""Callbacks in the REST API: agents and supervisors see the open callbacks (in queue
order, with their live place); supervisors cancel any, an agent those of the queues
they serve; programs (the API token, admin) book them.

    GET    /api/callbacks[?queue=support]   -> {"callbacks": [...]}
    POST   /api/callbacks  {number, queue, scheduled_for?}   -> 201 {"callback": {...}}
    DELETE /api/callbacks/{id}   -> {"callback": {...}} (state cancelled)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from datetime import datetime
from typing import Any

from aiohttp import web

from hotline.callbacks.rules import CallbackRefused
from hotline.callbacks.service import CallbackService
from hotline.web.auth import Role, current_user, requires


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


def add_callback_routes(
    app: web.Application,
    service: CallbackService,
    agent_queues: Mapping[str, Set[str]] | None = None,
) -> None:
    """`agent_queues`: agent id -> the queues they serve (whose callbacks they may cancel)."""
    serves = agent_queues or {}

    @requires(Role.AGENT)
    async def list_callbacks(request: web.Request) -> web.Response:
        queue = request.query.get("queue") or None
        return _json({"callbacks": await service.pending(queue)})

    async def book(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
            return _json({"error": "expected a JSON object {number, queue}"}, 400)
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) for k in ("number", "queue")
        ):
            return _json({"error": "expected a JSON object {number, queue}"}, 400)
        scheduled = None
        if body.get("scheduled_for") is not None:
            try:
                scheduled = datetime.fromisoformat(str(body["scheduled_for"]))
            except ValueError:
                return _json({"error": "scheduled_for must be an ISO 8601 time"}, 400)
        try:
            callback = await service.book(
                body["number"], body["queue"], source="api", scheduled_for=scheduled
            )
        except CallbackRefused as refused:
            return _json({"error": str(refused), "reason": refused.reason}, 422)
        return _json({"callback": callback.public()}, 201)

    @requires(Role.AGENT)
    async def cancel(request: web.Request) -> web.Response:
        user = current_user(request)
        contact_id = request.match_info["id"]
        found = await service.rows.get(contact_id)
        if found is None:
            return _json({"error": f"no callback {contact_id!r}"}, 404)
        if not user.can(Role.SUPERVISOR) and found.queue not in serves.get(
            user.agent_id or "", set()
        ):
            return _json(
                {"error": f"only supervisors and agents of queue {found.queue} may cancel it"},
                403,
            )
        try:
            callback = await service.cancel(contact_id, by=user.id)
        except LookupError:
            return _json({"error": f"callback {contact_id!r} is {found.state}, not open"}, 409)
        except CallbackRefused as refused:
            return _json({"error": str(refused)}, 409)
        return _json({"callback": callback.public()})

    app.router.add_get("/api/callbacks", list_callbacks)
    app.router.add_post("/api/callbacks", book)
    app.router.add_delete("/api/callbacks/{id}", cancel)
