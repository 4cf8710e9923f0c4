"""The contact page for supervisors: find contacts, then review one whole.

    GET /contacts                                  the page (static/contact/)
    GET /api/contact_search?from=&to=&queue=&agent=&channel=&outcome=&q=&limit=
    GET /api/contacts/{contact_id}/review          timeline, wrap-up, notes, chat,
                                                   transcripts, recordings, evaluations
    GET /api/contacts/{contact_id}/recordings/{name}   the recording, to play
    GET /api/nodes/recordings/{contact_id}/{name}      the same for another node (API
                                                       token only, not logged here)

Supervisors and admins only. A recording made on another node of a cluster is fetched
from it (hotline/web/recording_source.py). Reading a transcript (the review returns
them) and playing or downloading a recording are audited: `transcript.accessed` and
`recording.accessed` in the contact's log, with who and their role.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from aiohttp import web

from hotline.events import EventType
from hotline.quality.evaluations import Evaluations
from hotline.quality.forms import Form
from hotline.quality.review import Search, SearchError, recording_file, review, search_contacts
from hotline.store import Store
from hotline.web.auth import API_USER, STATIC_DIR, Role, current_user, error, requires
from hotline.web.evaluations_api import form_json
from hotline.web.recording_source import RecordingSource, RecordingUnavailable

PAGE = STATIC_DIR / "contact" / "contact.html"


def _when(raw: str | None, name: str, *, end: bool = False) -> datetime | None:
    """A date (YYYY-MM-DD, UTC; `end`: the day after, so the day is included) or an
    ISO time with its offset."""
    if not raw:
        return None
    try:
        if len(raw) == 10:
            day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise SearchError(f"{name} must be a date (YYYY-MM-DD) or an ISO time") from None
    if moment.tzinfo is None:
        raise SearchError(f"{name} must carry its UTC offset (e.g. +00:00)")
    return moment


def parse_search(query: Mapping[str, str], now: datetime) -> Search:
    """The search a query string asks for (SearchError names the field)."""
    given_start = _when(query.get("from"), "from")
    # No "to": up to now, or a day from a "from" in the future.
    end = _when(query.get("to"), "to", end=True) or max(
        now, given_start + timedelta(days=1) if given_start else now
    )
    start = given_start or end - timedelta(days=7)
    raw_limit = query.get("limit", "100")
    if not raw_limit.isdigit():
        raise SearchError("limit must be a whole number")
    return Search(
        start=start,
        end=end,
        queue=query.get("queue") or None,
        agent=query.get("agent") or None,
        channel=query.get("channel") or None,
        outcome=query.get("outcome") or None,
        keyword=(query.get("q") or "").strip() or None,
        limit=int(raw_limit),
    )


def add_contact_page_routes(
    app: web.Application,
    store: Store,
    evaluations: Evaluations,
    forms: Mapping[str, Form],
    recordings: RecordingSource | None = None,
) -> None:
    """`recordings`: where recordings are read (default: this box's disk only)."""
    source = recordings or RecordingSource()

    @requires(Role.SUPERVISOR)
    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE)

    @requires(Role.SUPERVISOR)
    async def find(request: web.Request) -> web.Response:
        try:
            search = parse_search(request.query, datetime.now(UTC))
        except SearchError as refused:
            return error(400, str(refused))
        return web.json_response({"contacts": await search_contacts(store, search)})

    @requires(Role.SUPERVISOR)
    async def whole(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        found = await review(store, contact_id)
        if found is None:
            return error(404, f"no contact {contact_id}")
        user = current_user(request)
        for transcript in found["transcripts"]:
            await store.append(
                contact_id,
                EventType.TRANSCRIPT_ACCESSED,
                {"by": user.id, "role": str(user.role), "transcript": transcript["id"]},
            )
        found["evaluations"] = [e.public() for e in await evaluations.of_contact(contact_id)]
        found["forms"] = [form_json(f) for f in forms.values()]
        return web.json_response(found)

    @requires(Role.SUPERVISOR)
    async def recording(request: web.Request) -> web.StreamResponse:
        contact_id, name = request.match_info["contact_id"], request.match_info["name"]
        file = recording_file(await store.events(contact_id), name)
        contact = await store.contact(contact_id)
        node = contact.asterisk_node if contact is not None else None
        headers = {
            "Content-Disposition": f'inline; filename="{name}.wav"',
            "Cache-Control": "no-store",  # each play is logged
        }
        try:
            async with source.open(contact_id, name, file, node) as found:
                user = current_user(request)  # logged once it can be served
                await store.append(
                    contact_id,
                    EventType.RECORDING_ACCESSED,
                    {"by": user.id, "role": str(user.role), "recording": name},
                )
                return await found.respond(request, headers)
        except RecordingUnavailable as missing:
            return error(missing.status, str(missing))

    @requires(Role.ADMIN)
    async def node_recording(request: web.Request) -> web.StreamResponse:
        """Another node fetches a recording made here (its user's access is logged
        there): the API token only, this box's disk only."""
        if current_user(request) is not API_USER:
            return error(403, "only another node (the API token) reads recordings here")
        contact_id, name = request.match_info["contact_id"], request.match_info["name"]
        file = recording_file(await store.events(contact_id), name)
        if file is None or not source.is_here(file):
            return error(404, f"contact {contact_id} has no recording {name} on this node")
        return web.FileResponse(file, headers={"Cache-Control": "no-store"})

    app.router.add_get("/contacts", page)
    app.router.add_get("/api/contact_search", find)
    app.router.add_get("/api/contacts/{contact_id}/review", whole)
    app.router.add_get("/api/contacts/{contact_id}/recordings/{name}", recording)
    app.router.add_get("/api/nodes/recordings/{contact_id}/{name}", node_recording)
