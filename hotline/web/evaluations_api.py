"""Evaluations in the REST API (hotline/quality), supervisors and admins only:

    GET  /api/evaluation_forms                         -> {"forms": [form, ...]}
    POST /api/contacts/{contact_id}/evaluations        {"form", "answers", "agent"?, "comment"?}
                                                       -> 201 {"evaluation": {...}}
    GET  /api/contacts/{contact_id}/evaluations        -> {"evaluations": [...]}
    GET  /api/contacts/{contact_id}/calibration?form=  -> each evaluator's latest and the spread

Refusals are `{"error": "<clear text>"}`: 403 an agent (agents are evaluated, they do
not evaluate), 400 a bad body or answer (naming the question), 404 no such contact,
409 the contact was not handled by an agent (or not by the one named). Nothing is stored
on a refusal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web

from hotline.quality.evaluations import EvaluationError, Evaluations
from hotline.quality.forms import Form
from hotline.quality.scoring import AnswerError
from hotline.web.auth import Role, current_user, error, requires

#: The largest request body accepted (a form's answers and a comment).
MAX_BODY = 64 * 1024


def form_json(form: Form) -> dict[str, object]:
    return form.model_dump(mode="json")


def _not_supervisor(role: str) -> web.Response:
    return error(403, f"only supervisors and admins may evaluate contacts; you are an {role}")


def add_evaluation_routes(
    app: web.Application, evaluations: Evaluations, forms: Mapping[str, Form]
) -> None:
    # Open to agents so that they get a clear refusal, not only the role's.
    @requires(Role.AGENT)
    async def submit(request: web.Request) -> web.Response:
        user = current_user(request)
        if not user.can(Role.SUPERVISOR):
            return _not_supervisor(user.role)
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return error(400, f"the body is larger than {MAX_BODY} bytes")
        try:
            body = json.loads(raw or b"null")
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            return error(400, 'the body must be a JSON object like {"form": ..., "answers": {...}}')
        unknown = sorted(set(body) - {"form", "answers", "agent", "comment"})
        if unknown:
            return error(400, f"unknown field {unknown[0]!r}")
        form, answers = body.get("form"), body.get("answers")
        agent, comment = body.get("agent"), body.get("comment", "")
        if not isinstance(form, str) or not form:
            return error(400, "form must be the id of an evaluation form")
        if not isinstance(answers, dict):
            return error(400, "answers must be an object: question id -> answer")
        if agent is not None and not isinstance(agent, str):
            return error(400, "agent must be a string")
        if not isinstance(comment, str):
            return error(400, "comment must be a string")
        contact_id = request.match_info["contact_id"]
        try:
            saved = await evaluations.submit(
                contact_id, form, answers, user.id, agent=agent, comment=comment
            )
        except AnswerError as refused:
            return error(400, str(refused))
        except EvaluationError as refused:
            text = str(refused)
            status = 404 if "does not exist" in text else 409 if "agent" in text else 400
            return error(status, text)
        return web.json_response({"evaluation": saved.public()}, status=201)

    @requires(Role.SUPERVISOR)
    async def listing(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        found = await evaluations.of_contact(contact_id)
        return web.json_response({"evaluations": [e.public() for e in found]})

    @requires(Role.SUPERVISOR)
    async def calibration(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        form = request.query.get("form", "")
        if form not in forms:
            return error(400, f"form must be one of {', '.join(sorted(forms)) or 'none'}")
        result = await evaluations.calibration(contact_id, form)
        return web.json_response(result.public())

    @requires(Role.SUPERVISOR)
    async def all_forms(request: web.Request) -> web.Response:
        return web.json_response({"forms": [form_json(f) for f in forms.values()]})

    app.router.add_get("/api/evaluation_forms", all_forms)
    app.router.add_post("/api/contacts/{contact_id}/evaluations", submit)
    app.router.add_get("/api/contacts/{contact_id}/evaluations", listing)
    app.router.add_get("/api/contacts/{contact_id}/calibration", calibration)
