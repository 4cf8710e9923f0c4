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
"""

from __future__ import annotations

import json

from aiohttp import web

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
