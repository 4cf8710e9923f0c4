"""The REST API: health, live status, contacts and their event log, agents, recordings.

Who may call what is marked on each handler (hotline/web/auth.py).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from hotline.acd.model import Channel
from hotline.acd.presence import ACTIONS, PresenceError, agent_view, change_presence
from hotline.acd.service import RoutingService
from hotline.events import EventType
from hotline.store import Store
from hotline.web.auth import API_USER, Role, current_user, home_of, optional_user, public, requires
from hotline.web.recording_source import RecordingSource, RecordingUnavailable
from hotline.yamlsource import load_yaml

CHANNELS = tuple(str(c) for c in Channel)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

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


class RecordingControl(Protocol):
    """Pauses and resumes the recording of a contact's conversation in progress."""

    async def pause(self, contact_id: str) -> bool:
        """False when the contact has no recording in progress."""

    async def resume(self, contact_id: str) -> bool:
        """False when the contact has no recording in progress."""


def add_api_routes(
    app: web.Application,
    store: Store,
    status: Callable[[], ApiStatus],
    routing: RoutingService | None = None,
    agents: Mapping[str, str] | None = None,
    recording: RecordingControl | None = None,
    recording_source: RecordingSource | None = None,
    health_of: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """`agents` maps agent id -> display name (the agents the API may act on);
    `recording_source`: where recordings are read (default: this box's disk only);
    `health_of`: what `/api/health` says (default: whether ARI is connected)."""
    agents = dict(agents or {})
    source = recording_source or RecordingSource()

    @public
    async def index(request: web.Request) -> web.Response:
        user = optional_user(request)
        if user is not None and user is not API_USER:
            raise web.HTTPFound(home_of(user))
        raise web.HTTPFound("/login")

    @public
    async def health(request: web.Request) -> web.Response:
        if health_of is not None:  # a web process: its own dependencies
            return _json(health_of())
        current = status()
        return _json({"ok": current.ari_connected, "ari": current.ari_connected})

    @public
    async def openapi(request: web.Request) -> web.Response:
        return _json(openapi_document())

    @requires(Role.SUPERVISOR)
    async def live(request: web.Request) -> web.Response:
        return _json(asdict(status()))

    @requires(Role.SUPERVISOR)
    async def contacts(request: web.Request) -> web.Response:
        try:
            limit = min(max(int(request.query.get("limit", "50")), 1), 500)
        except ValueError:
            return _json({"error": "limit must be a whole number"}, 400)
        rows = await store.recent_contacts(limit)
        return _json([_plain(row) for row in rows])

    @requires(Role.SUPERVISOR)
    async def contact_events(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        if await store.contact(contact_id) is None:
            return _json({"error": f"no contact {contact_id}"}, 404)
        return _json([_plain(event) for event in await store.events(contact_id)])

    @requires(Role.SUPERVISOR)
    async def list_agents(request: web.Request) -> web.Response:
        if routing is None:
            return _json({"error": "no routing engine"}, 503)
        return _json(
            [
                {"id": agent, "name": name, "channels": agent_view(routing, agent)}
                for agent, name in agents.items()
            ]
        )

    @requires(Role.AGENT)
    async def agent_action(request: web.Request) -> web.Response:
        agent, action = request.match_info["agent"], request.match_info["action"]
        user = current_user(request)
        if not user.can(Role.SUPERVISOR) and user.agent_id != agent:
            return _json({"error": "agents change only their own state"}, 403)
        if routing is None:
            return _json({"error": "no routing engine"}, 503)
        if agent not in agents:
            return _json({"error": f"no agent {agent}"}, 404)
        if action not in ACTIONS:
            return _json({"error": f"unknown action {action!r}; one of {', '.join(ACTIONS)}"}, 404)
        body: Any = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
                return _json({"error": "the body must be JSON"}, 400)
        if not isinstance(body, dict):
            return _json({"error": "the body must be a JSON object"}, 400)
        reason, channels = body.get("reason"), body.get("channels")
        if reason is not None and not isinstance(reason, str):
            return _json({"error": "reason must be a string"}, 400)
        if channels is not None and not (
            isinstance(channels, list) and all(c in CHANNELS for c in channels)
        ):
            return _json({"error": f"channels must be a list of {', '.join(CHANNELS)}"}, 400)
        try:
            view = await change_presence(routing, agent, action, reason=reason, channels=channels)
        except PresenceError as error:
            return _json({"error": str(error)}, 409)
        return _json({"id": agent, "name": agents[agent], "channels": view})

    async def saved_recordings() -> list[Any]:
        """Every `recording.saved` event, oldest first."""
        return await store.events_between(EPOCH, datetime.now(UTC), types=["recording.saved"])

    @requires(Role.SUPERVISOR)
    async def recordings(request: web.Request) -> web.Response:
        saved = await saved_recordings()
        listed = [
            {
                "contact_id": e.contact_id,
                "at": e.ts.isoformat(),
                "agent": e.agent,
                **_public(e.data),
            }
            for e in reversed(saved)
        ]
        return _json(listed)

    @requires(Role.SUPERVISOR)
    async def download(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        saved = await saved_recordings()
        # Only a name the event log knows, from the path it stored: never a path from the URL.
        found = [e for e in saved if e.data.get("name") == name and e.data.get("file")]
        if not found or found[-1].contact_id is None:
            return _json({"error": f"no recording {name}"}, 404)
        contact_id, file = found[-1].contact_id, str(found[-1].data["file"])
        contact = await store.contact(contact_id)
        node = contact.asterisk_node if contact is not None else None
        headers = {"Content-Disposition": f'attachment; filename="{name}.wav"'}
        try:
            async with source.open(contact_id, name, file, node) as recording:
                # Downloading a recording is audited like playing it on the contact page.
                user = current_user(request)
                await store.append(
                    contact_id,
                    EventType.RECORDING_ACCESSED,
                    {"by": user.id, "role": str(user.role), "recording": name},
                )
                return await recording.respond(request, headers)
        except RecordingUnavailable as missing:
            said = f"no recording {name}" if missing.status == 404 else str(missing)
            return _json({"error": said}, missing.status)

    @requires(Role.SUPERVISOR)
    async def recording_action(request: web.Request) -> web.Response:
        contact_id, action = request.match_info["contact_id"], request.match_info["action"]
        if recording is None or action not in ("pause", "resume"):
            return _json({"error": f"unknown action {action!r}; pause or resume"}, 404)
        done = await (recording.pause if action == "pause" else recording.resume)(contact_id)
        if not done:
            return _json({"error": f"contact {contact_id} has no recording in progress"}, 409)
        return _json(
            {"contact_id": contact_id, "recording": "paused" if action == "pause" else "on"}
        )

    app.router.add_get("/api/recordings", recordings)
    app.router.add_get("/api/recordings/{name}", download)
    app.router.add_post("/api/contacts/{contact_id}/recording/{action}", recording_action)
    app.router.add_get("/api/agents", list_agents)
    app.router.add_post("/api/agents/{agent}/{action}", agent_action)
    app.router.add_get("/", index)
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/status", live)
    app.router.add_get("/api/contacts", contacts)
    app.router.add_get("/api/contacts/{contact_id}/events", contact_events)


@functools.cache
def openapi_document() -> dict[str, Any]:
    """This API's OpenAPI description (hotline/web/openapi.yaml)."""
    document, _ = load_yaml(Path(__file__).with_name("openapi.yaml"))
    return dict(document)


def _public(data: dict[str, Any]) -> dict[str, Any]:
    """A recording event without host paths (the API serves the file itself)."""
    return {k: v for k, v in data.items() if k not in ("file", "asterisk_file")}


def _plain(row: Any) -> dict[str, Any]:
    if hasattr(row, "__dataclass_fields__"):
        return asdict(row)
    return {k: v for k, v in vars(row).items() if not k.startswith("_")}
