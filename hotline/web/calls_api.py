"""Call control in the REST API (the desk's call buttons use it too):

    GET  /api/calls/{contact_id}            -> {"contact_id": ..., "state": {...}}
    POST /api/calls/{contact_id}/{action}   -> {"contact_id": ..., "state": {...}}

`action` is one of hold, resume, transfer, consult, complete, conference, cancel;
transfer and consult take `{"to": "agent:bob" | "queue:sales" | "number:5551234",
"note": "..."}`. Refusals are `{"error": "<clear text>"}`: 400 a bad body or target,
404 no live call (or an unknown target), 409 the action does not fit the call's state,
403 an agent acting on a call that is not theirs (supervisors and admins may act on
any call). A refused command leaves the call as it was.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hotline.calls import BadCommand, CallControl, CallControlError, check_owner, parse_command
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


def add_call_routes(app: web.Application, control: CallControl) -> None:
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

    app.router.add_get("/api/calls/{contact_id}", show)
    app.router.add_post("/api/calls/{contact_id}/{action}", act)
