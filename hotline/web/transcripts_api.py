"""Transcripts over the REST API (supervisors and admins): search what was said, read
a contact's transcripts, and a summary of flags and sentiment for reports.

    GET /api/transcripts?q=&flag=&queue=&limit=     newest first
    GET /api/transcripts/summary?since=&until=      flags and sentiment per queue
    GET /api/transcripts/{id}                       one, with each word's timing
    GET /api/contacts/{contact_id}/transcripts      a contact's, with words
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from hotline.events import EventType
from hotline.store.transcripts import Transcript, Transcripts
from hotline.web.auth import Role, current_user, error, requires

#: Transcripts a summary reads at most.
SUMMARY_LIMIT = 10000


async def _accessed(
    request: web.Request, transcripts: Transcripts, found: list[Transcript]
) -> None:
    """Reading a transcript whole is audited: `transcript.accessed` (who, their role)."""
    user = current_user(request)
    for transcript in found:
        await transcripts.store.append(
            transcript.contact_id,
            EventType.TRANSCRIPT_ACCESSED,
            {"by": user.id, "role": str(user.role), "transcript": transcript.id},
        )


def add_transcript_routes(app: web.Application, transcripts: Transcripts) -> None:
    @requires(Role.SUPERVISOR)
    async def search(request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = min(max(int(query.get("limit", "50")), 1), 500)
        except ValueError:
            return error(400, "limit must be a whole number")
        text = query.get("q", "").strip()
        if len(text) > 200:
            return error(400, "q is longer than 200 characters")
        found = await transcripts.search(
            text or None,
            flag=query.get("flag") or None,
            queue=query.get("queue") or None,
            limit=limit,
        )
        return web.json_response([t.public() for t in found])

    @requires(Role.SUPERVISOR)
    async def one(request: web.Request) -> web.Response:
        raw = request.match_info["transcript_id"]
        if not raw.isdigit():
            return error(404, f"no transcript {raw}")
        found = await transcripts.get(int(raw))
        if found is None:
            return error(404, f"no transcript {raw}")
        await _accessed(request, transcripts, [found])
        return web.json_response(found.public(words=True))

    @requires(Role.SUPERVISOR)
    async def of_contact(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"]
        found = await transcripts.for_contact(contact_id)
        await _accessed(request, transcripts, found)
        return web.json_response([t.public(words=True) for t in found])

    @requires(Role.SUPERVISOR)
    async def summary(request: web.Request) -> web.Response:
        try:
            until = _time(request.query.get("until")) or datetime.now(UTC)
            since = _time(request.query.get("since")) or until - timedelta(days=1)
        except ValueError as problem:
            return error(400, str(problem))
        found = [
            t
            for t in await transcripts.search(limit=SUMMARY_LIMIT)
            if since <= t.created_at < until
        ]
        return web.json_response(
            {
                "since": since.isoformat(),
                "until": until.isoformat(),
                **summarise(found),
                "queues": {
                    queue: summarise([t for t in found if (t.queue or "") == queue])
                    for queue in sorted({t.queue or "" for t in found})
                },
            }
        )

    app.router.add_get("/api/transcripts", search)
    app.router.add_get("/api/transcripts/summary", summary)
    app.router.add_get("/api/transcripts/{transcript_id}", one)
    app.router.add_get("/api/contacts/{contact_id}/transcripts", of_contact)


def summarise(found: list[Transcript]) -> dict[str, Any]:
    """Count, flags raised and sentiment of some transcripts (for reports)."""
    scores = [t.sentiment for t in found if t.sentiment is not None]
    return {
        "transcripts": len(found),
        "flags": dict(sorted(Counter(f for t in found for f in t.flags).items())),
        "sentiment": {
            "scored": len(scores),
            "average": round(sum(scores) / len(scores), 3) if scores else None,
            "negative": sum(1 for s in scores if s < 0),
            "positive": sum(1 for s in scores if s > 0),
        },
    }


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO date or time (2026-11-23T10:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
