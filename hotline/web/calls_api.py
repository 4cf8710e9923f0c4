"""Call control in the REST API (the desk's call buttons use it too):

    GET  /api/calls/{contact_id}            -> {"contact_id": ..., "state": {...}}
    POST /api/calls/{contact_id}/{action}   -> {"contact_id": ..., "state": {...}}

`action` is one of hold, resume, transfer, consult, complete, conference, cancel;
transfer and consult take `{"to": "agent:bob" | "queue:sales" | "number:5551234",
"note": "..."}`. Refusals are `{"error": "<clear text>"}`: 400 a bad body or target,
404 no live call (or an unknown target), 409 the action does not fit the call's state,
403 an agent acting on a call that is not theirs (supervisors and admins may act on
any call). A refused command leaves the call as it was.

Outbound calls (`hotline/calls/outbound.py`; the agent's phone rings first, then the
customer is dialed with the queue's caller id):

    POST /api/calls                    {"to": "number:5551234" | "customer:42",
                                        "queue": "support", "agent": "bob"}
    POST /api/callbacks/{id}/call      {"agent": "bob"} or no body
                                       -> 201 {"contact_id": ...}
    GET  /api/calls/outbound           -> {"agent": ..., "queues": [...]} (the desk's
                                          choice of queues: the agent's own)

An agent calls as themselves (naming another agent: 403); a supervisor or the API
token names the agent. Refusals as above, nothing placed: 400 a bad body or a number
the dial rules refuse, 403 a queue the agent does not serve, 404 an unknown agent,
queue, customer or callback, 409 an agent who cannot take a call now (offline, paused,
on a call), 503 no outbound calls on this Hotline.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hotline.calls import BadCommand, CallControl, CallControlError, check_owner, parse_command
from hotline.calls.outbound_service import OutboundCalls
from hotline.web.auth import Role, User, current_user, requires


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def _acting_agent(user: User) -> str | None:
    """The agent whose own calls only the user may control; None: any call."""
    if user.can(Role.SUPERVISOR):
        return None
    return user.agent_id or user.id


async def _body(request: web.Request) -> object:
    if not request.can_read_body:
        return None
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        raise BadCommand("the body must be a JSON object") from None


def add_call_routes(
    app: web.Application, control: CallControl, outbound: OutboundCalls | None = None
) -> None:
    """`outbound`: click-to-call and callbacks by hand; None: refused (503)."""

    @requires(Role.AGENT)
    async def place(request: web.Request) -> web.Response:
        user = current_user(request)
        if outbound is None:
            return _json({"error": "this Hotline places no outbound calls"}, 503)
        try:
            body = await _body(request)
            callback = request.match_info.get("id")
            if callback is None:
                contact_id = await outbound.call(body, asker=_acting_agent(user), by=user.id)
            else:
                contact_id = await outbound.call_callback(
                    callback, body, asker=_acting_agent(user), by=user.id
                )
        except CallControlError as refused:
            return _json({"error": str(refused)}, refused.status)
        return _json({"contact_id": contact_id}, 201)

    @requires(Role.AGENT)
    async def show(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        state = control.state(contact_id)
        if state is None:
            return _json({"error": f"contact {contact_id} has no live call with an agent"}, 404)
        try:
            check_owner(state, _acting_agent(current_user(request)))
        except CallControlError as refused:
            return _json({"error": str(refused)}, refused.status)
        return _json({"contact_id": contact_id, "state": state.to_json()})

    @requires(Role.AGENT)
    async def act(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        user = current_user(request)
        try:
            command = parse_command(request.match_info["action"], await _body(request))
            state = await control.act(contact_id, command, by_agent=_acting_agent(user), by=user.id)
        except CallControlError as refused:
            return _json({"error": str(refused)}, refused.status)
        return _json({"contact_id": contact_id, "state": state.to_json()})

    @requires(Role.AGENT)
    async def options(request: web.Request) -> web.Response:
        if outbound is None:
            return _json({"agent": None, "queues": []})
        return _json(outbound.options(_acting_agent(current_user(request))))

    app.router.add_get("/api/calls/outbound", options)
    app.router.add_post("/api/calls", place)
    app.router.add_post("/api/callbacks/{id}/call", place)
    app.router.add_get("/api/calls/{contact_id}", show)
    app.router.add_post("/api/calls/{contact_id}/{action}", act)
