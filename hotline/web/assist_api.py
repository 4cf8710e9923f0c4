"""Agent assist: knowledge-base articles suggested for what the customer last wrote,
and a search of the knowledge base, each article with the card it is sent as.

    GET /api/assist/contacts/{contact_id}/suggestions   for the chat's last messages,
                                                        or what a caller said
    GET /api/assist/search?q=&language=&limit=          the agent's own search

A caller's words are, where the queue's conversations are transcribed live
(`speech.live_transcripts`, ari_app/live_transcript.py), their last utterances to the
agent (`call.transcribed`); otherwise their answers a voice flow understood by speech
and the call's recording transcripts so far. A call's suggestions carry its running
transcript and whether it stopped early (`call.transcription_stopped`), so the desk
shows both. Only the agent the chat or call is with (or a supervisor) sees its
suggestions. Texts are returned as written (JSON strings): the desk escapes them
(desk_assist.js).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web

from hotline.events import EventType
from hotline.knowledge.article import Hit
from hotline.knowledge.base import MAX_QUESTION, BadQuestion, KnowledgeError
from hotline.knowledge.text import UnknownLanguage
from hotline.messages import article_card, dump
from hotline.store import LoggedEvent, Store
from hotline.store.chats import ChatMessage, ChatStore
from hotline.store.transcripts import Transcripts
from hotline.web.auth import Role, User, current_user, error, requires

#: How many of the customer's last messages (a caller's last utterances) make the question.
RECENT = 3
SUGGESTIONS = 3
#: The running transcript's lines the desk is sent (the latest).
TRANSCRIPT_LINES = 50


class Search(Protocol):
    """The knowledge base's search (hotline/knowledge/base.py)."""

    async def search(
        self, query: str, language: str, limit: int = 5, *, tags: tuple[str, ...] = ()
    ) -> list[Hit]: ...


class CallRecords(Protocol):
    """What a call's words are read from: its events and transcripts (the store's)."""

    async def events(self, contact_id: str) -> list[LoggedEvent]: ...
    async def transcripts(self, contact_id: str) -> list[str]: ...


class AssistRefused(Exception):
    """`status` and a message saying why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def last_question(messages: Sequence[ChatMessage], recent: int = RECENT) -> str:
    """What the customer last wrote, in their words: their last `recent` typed messages
    (not buttons pressed, files or masked answers), cut to a question's length."""
    typed = [
        m.text.strip()
        for m in messages
        if m.sender == "customer"
        and m.kind == "text"
        and not m.data.get("choice")
        and not m.data.get("masked")
        and m.text.strip()
    ]
    question = " ".join(typed[-recent:])
    return question[-MAX_QUESTION:].strip()


def live_lines(events: Sequence[LoggedEvent]) -> list[dict[str, Any]]:
    """The call's live transcript so far (`call.transcribed`), in order."""
    return [
        {
            "utterance": e.data.get("utterance"),
            "text": str(e.data.get("text") or ""),
            "confidence": e.data.get("confidence"),
            "side": e.data.get("side") or "caller",
        }
        for e in events
        if e.type == EventType.CALL_TRANSCRIBED and str(e.data.get("text") or "").strip()
    ]


def transcription_stopped(events: Sequence[LoggedEvent]) -> str | None:
    """Why the call's live transcript stopped early (None: it did not)."""
    reasons = [
        str(e.data.get("reason") or "failed")
        for e in events
        if e.type == EventType.CALL_TRANSCRIPTION_STOPPED
    ]
    return reasons[-1] if reasons else None


def call_words(events: Sequence[LoggedEvent], transcripts: Sequence[str]) -> str:
    """What a caller said lately: their last `RECENT` utterances of the live transcript;
    without one, their answers the voice flow understood by speech (`speech.recognised`),
    then the call's transcripts; the latest words kept."""
    live = [line["text"] for line in live_lines(events)]
    if live:
        return " ".join(live[-RECENT:])[-MAX_QUESTION:].strip()
    said = [
        str(e.data.get("text") or "").strip()
        for e in events
        if e.type == EventType.SPEECH_RECOGNISED and e.data.get("fallback") is None
    ]
    words = " ".join(w for w in [*said, *transcripts] if w)
    return words[-MAX_QUESTION:].strip()


def call_facts(events: Sequence[LoggedEvent]) -> tuple[str | None, str | None]:
    """(the agent who answered the call last, the caller's language) from its events."""
    agent = language = None
    for e in events:
        if e.type == EventType.CONTACT_ANSWERED:
            agent = e.agent
        elif e.type in (
            EventType.SPEECH_RECOGNISED,
            EventType.FLOW_LANGUAGE,
            EventType.CALL_TRANSCRIBED,
        ):
            language = str(e.data.get("language") or "") or language
    return agent, language


def suggestion(hit: Hit) -> dict[str, Any]:
    """An article as the desk shows it, with the card it would be sent as (None when
    the article cannot be a card: the desk inserts it as text)."""
    web_links = [
        (link.title.get(hit.language) or next(iter(link.title.values())), link.url)
        for link in hit.links
        if link.url
    ]
    card = article_card(hit.title, hit.answer, web_links)
    return {**hit.public(), "card": dump(card) if card is not None else None}


class StoreCalls:
    """CallRecords from the store and its transcripts."""

    def __init__(self, store: Store, transcripts: Transcripts) -> None:
        self.store = store
        self.transcript_store = transcripts

    async def events(self, contact_id: str) -> list[LoggedEvent]:
        return await self.store.events(contact_id)

    async def transcripts(self, contact_id: str) -> list[str]:
        return [t.text for t in await self.transcript_store.for_contact(contact_id)]


class Assist:
    """Suggestions for a chat or call, and the agent's searches."""

    def __init__(
        self,
        kb: Search,
        chats: ChatStore,
        calls: CallRecords | None = None,
        *,
        default_language: str = "en",
    ) -> None:
        self.kb = kb
        self.chats = chats
        self.calls = calls
        self.default_language = default_language

    async def suggest(self, user: User, contact_id: str) -> dict[str, Any]:
        """Articles for a chat's last customer messages, or for what a caller said."""
        messages = await self.chats.contact_messages(contact_id)
        session = await self.chats.session(messages[0].session_id) if messages else None
        live: dict[str, Any] = {}
        if session is not None:
            agent, language = session.agent, session.language
            question = last_question(messages)
            what = "chat"
        elif self.calls is not None and (events := await self.calls.events(contact_id)):
            agent, language = call_facts(events)
            question = call_words(events, await self.calls.transcripts(contact_id))
            what = "call"
            live = {
                "transcript": live_lines(events)[-TRANSCRIPT_LINES:],
                "transcription_stopped": transcription_stopped(events),
            }
        else:
            raise AssistRefused(404, f"no chat or call with contact {contact_id!r}")
        if (agent is None or agent != user.agent_id) and not user.can(Role.SUPERVISOR):
            raise AssistRefused(403, f"this {what} is not on your desk")
        language = language or self.default_language
        if not question:
            return {"question": "", "language": language, "articles": [], **live}
        try:
            articles = await self.search(question, language, SUGGESTIONS)
        except AssistRefused:
            if not live:
                raise
            articles = []  # a caller's language the knowledge base lacks: the transcript still
        return {"question": question, "language": language, "articles": articles, **live}

    async def search(self, query: str, language: str, limit: int) -> list[dict[str, Any]]:
        try:
            hits = await self.kb.search(query, language, limit)
        except (BadQuestion, KnowledgeError, UnknownLanguage) as refused:
            raise AssistRefused(400, str(refused)) from None
        return [suggestion(hit) for hit in hits]


def add_assist_routes(app: web.Application, assist: Assist) -> None:
    @requires(Role.AGENT)
    async def suggestions(request: web.Request) -> web.Response:
        contact_id = request.match_info["contact_id"][:64]
        try:
            found = await assist.suggest(current_user(request), contact_id)
        except AssistRefused as refused:
            return error(refused.status, str(refused))
        return web.json_response(found)

    @requires(Role.AGENT)
    async def search(request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = min(max(int(query.get("limit", "5")), 1), 20)
        except ValueError:
            return error(400, "limit must be a whole number")
        language = query.get("language") or assist.default_language
        try:
            found = await assist.search(query.get("q", ""), language[:8], limit)
        except AssistRefused as refused:
            return error(refused.status, str(refused))
        return web.json_response({"language": language, "articles": found})

    app.router.add_get("/api/assist/contacts/{contact_id}/suggestions", suggestions)
    app.router.add_get("/api/assist/search", search)
