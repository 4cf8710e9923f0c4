"""Where an agent can send a call: the desk's transfer and consult picker.

    GET /api/calls/targets  -> {"agents": [{"id", "name", "presence", "state", "reason"}],
                                "queues": [{"name", "waiting", "agents_free"}],
                                "numbers": true}

Colleagues (not the asking agent) with their voice presence: available, busy (ringing,
talking or in wrap-up), paused (with the reason) or offline; queues with the contacts
waiting in them now and their free agents; `numbers`: whether a number may be typed
(its dial rules are checked when the transfer is asked for). The routing engine's live
state, read at the request. (A plain path: aiohttp matches it before the dynamic
`/api/calls/{contact_id}` of calls_api.py, whatever the order they were added in.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from hotline.acd.decisions import AgentSnapshot, Snapshot
from hotline.acd.service import RoutingService
from hotline.web.auth import Role, current_user, requires

#: Routing states of an agent's voice channel, as the desk names them.
PRESENCE = {
    "available": "available",
    "reserved": "busy",
    "ringing": "busy",
    "busy": "busy",
    "wrap_up": "busy",
    "paused": "paused",
    "offline": "offline",
}


def presence(agent: AgentSnapshot) -> tuple[str, str, str | None]:
    """(presence, routing state, pause reason) of an agent's voice channel; an agent
    without one takes no calls: offline."""
    voice = agent.channels.get("voice")
    if voice is None:
        return "offline", "offline", None
    return PRESENCE.get(voice.state, "busy"), voice.state, voice.reason


def targets(
    snapshot: Snapshot, names: Mapping[str, str], me: str | None, numbers: bool
) -> dict[str, Any]:
    """The picker's lists: agents by name (not `me`), queues by name."""
    agents = []
    for a in snapshot.agents:
        if a.id == me:
            continue
        shown, state, reason = presence(a)
        agents.append(
            {
                "id": a.id,
                "name": names.get(a.id, a.id),
                "presence": shown,
                "state": state,
                "reason": reason,
            }
        )
    agents.sort(key=lambda a: (str(a["name"]).lower(), a["id"]))
    queues = [
        {"name": q.name, "waiting": q.waiting, "agents_free": q.agents_free}
        for q in sorted(snapshot.queues, key=lambda q: q.name)
    ]
    return {"agents": agents, "queues": queues, "numbers": numbers}


def add_call_target_routes(
    app: web.Application,
    routing: RoutingService,
    names: Mapping[str, str],
    *,
    numbers: bool = True,
) -> None:
    """`names`: agent id -> display name; `numbers`: numbers may be dialed."""

    @requires(Role.AGENT)
    async def listing(request: web.Request) -> web.Response:
        user = current_user(request)
        me = user.agent_id or (None if user.can(Role.SUPERVISOR) else user.id)
        return web.json_response(targets(routing.snapshot(), names, me, numbers))

    app.router.add_get("/api/calls/targets", listing)
