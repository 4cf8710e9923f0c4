"""Wrap-up codes and notes over HTTP (hotline/contacts/wrapup.py):

    POST /api/contacts/{id}/wrapup  {"code": "sale"}  -> {contact_id, wrap_up, wrap_up_ended}
    GET  /api/contacts/{id}/notes                      -> {contact_id, wrap_up, notes: [...]}
    POST /api/contacts/{id}/notes   {"text": "..."}    -> 201 {text, by, at}

Agents on the contacts they handled, supervisors and the API token on any. Errors are
{"error": "..."} with 400 (bad input), 403 (not yours), 404 (no such contact), 409.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hotline.contacts.wrapup import WrapUpRefused, WrapUps
from hotline.web.auth import Role, current_user, requires

MAX_BODY = 8 * 1024
MAX_ID = 64


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise WrapUpRefused(f"the body is over {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise WrapUpRefused("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise WrapUpRefused("the body must be a JSON object")
    return body


def _who(request: web.Request) -> tuple[str, str | None]:
    """The user's id, and their agent id when they may only touch their own contacts."""
    user = current_user(request)
    if user.can(Role.SUPERVISOR):
        return user.id, None
    if user.agent_id is None:
        raise WrapUpRefused("only agents and supervisors write on contacts", 403)
    return user.agent_id, user.agent_id


def _contact(request: web.Request) -> str:
    contact_id = request.match_info["id"]
    if len(contact_id) > MAX_ID:
        raise WrapUpRefused(f"no contact {contact_id[:MAX_ID]}…", 404)
    return contact_id


def _error(error: WrapUpRefused) -> web.Response:
    return web.json_response({"error": str(error)}, status=error.status)


def add_contacts_routes(app: web.Application, wrap_ups: WrapUps) -> None:
    @requires(Role.AGENT)
    async def wrapup(request: web.Request) -> web.Response:
        try:
            by, agent = _who(request)
            body = await _body(request)
            done = await wrap_ups.wrap_up(_contact(request), body.get("code"), by, agent)
        except WrapUpRefused as error:
            return _error(error)
        return web.json_response(done)

    @requires(Role.AGENT)
    async def notes(request: web.Request) -> web.Response:
        try:
            _by, agent = _who(request)
            found = await wrap_ups.notes(_contact(request), agent)
        except WrapUpRefused as error:
            return _error(error)
        return web.json_response(found)

    @requires(Role.AGENT)
    async def add_note(request: web.Request) -> web.Response:
        try:
            by, agent = _who(request)
            body = await _body(request)
            note = await wrap_ups.add_note(_contact(request), body.get("text"), by, agent)
        except WrapUpRefused as error:
            return _error(error)
        return web.json_response(note, status=201)

    app.router.add_post("/api/contacts/{id}/wrapup", wrapup)
    app.router.add_get("/api/contacts/{id}/notes", notes)
    app.router.add_post("/api/contacts/{id}/notes", add_note)
