"""How the bot (the flows' knowledge node) did: answer accuracy, containment, hand-over,
satisfaction of bot-only against agent-served contacts, and the questions it could not
answer, grouped for whoever keeps the knowledge base. Formulas in docs/metrics.md.

Read from the knowledge node's events (docs/events.md): `knowledge.searched` (a question
asked), `knowledge.answered` (an answer given), `knowledge.feedback` {helpful} (the
customer's "did this help?") and `knowledge.unanswered` {question} (the node gave up).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hotline.events import EventType
from hotline.reports.contacts import FINAL
from hotline.reports.source import FLAG_LOOKAHEAD, EventSource
from hotline.reports.tables import Column, Table, columns, ratio

BOT_EVENTS = (
    EventType.KNOWLEDGE_SEARCHED,
    EventType.KNOWLEDGE_ANSWERED,
    EventType.KNOWLEDGE_FEEDBACK,
    EventType.KNOWLEDGE_UNANSWERED,
)
#: Most unanswered question groups listed (the most frequent first).
MAX_UNANSWERED = 100

BOT_COLUMNS = [
    ("contacts", "bot contacts", "int"),
    ("questions", "questions", "int"),
    ("answers", "answers", "int"),
    ("helpful", "helpful", "int"),
    ("not_helpful", "not helpful", "int"),
    ("accuracy", "accuracy %", "pct"),
    ("unanswered", "unanswered", "int"),
    ("ended", "ended", "int"),
    ("contained", "contained", "int"),
    ("containment", "containment %", "pct"),
    ("handed_over", "handed over", "int"),
    ("handover_rate", "hand-over %", "pct"),
    ("csat_bot", "CSAT bot-only", "num"),
    ("csat_agent", "CSAT agent-served", "num"),
]
UNANSWERED_COLUMNS = [
    ("question", "question", "text"),
    ("count", "times", "int"),
    ("contacts", "contacts", "int"),
    ("languages", "languages", "text"),
    ("example", "as written (last)", "text"),
]

_NOT_WORD = re.compile(r"[^\w]+")


def question_key(question: str) -> str:
    """What groups questions: lower case, words only (any script), single spaces."""
    return _NOT_WORD.sub(" ", question.casefold()).strip()


@dataclass
class BotStats:
    contacts: int = 0
    questions: int = 0
    answers: int = 0
    helpful: int = 0
    not_helpful: int = 0
    unanswered: int = 0
    ended: int = 0
    contained: int = 0
    handed_over: int = 0
    bot_scores: list[float] = field(default_factory=list)
    agent_scores: list[float] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {
            "contacts": self.contacts,
            "questions": self.questions,
            "answers": self.answers,
            "helpful": self.helpful,
            "not_helpful": self.not_helpful,
            "accuracy": ratio(self.helpful, self.answers),
            "unanswered": self.unanswered,
            "ended": self.ended,
            "contained": self.contained,
            "containment": ratio(self.contained, self.ended),
            "handed_over": self.handed_over,
            "handover_rate": ratio(self.handed_over, self.contacts),
            "csat_bot": _mean(self.bot_scores),
            "csat_agent": _mean(self.agent_scores),
        }


@dataclass
class _Group:
    count: int = 0
    contacts: set[str] = field(default_factory=set)
    languages: set[str] = field(default_factory=set)
    example: str = ""


class BotFold:
    """Bot contacts (contacts that started in the period and asked the knowledge node
    at least once), per language of their first question, and unanswered questions."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.languages: dict[str, BotStats] = {}
        self.total = BotStats()
        self.groups: dict[str, _Group] = {}
        self._language: dict[str, str] = {}  # contact -> language of its first question

    def feed(
        self,
        contacts: Iterable[tuple[Any, ...]],
        events: Iterable[tuple[Any, ...]],
        starts: dict[int, list[float]],
        surveys: Iterable[tuple[Any, ...]] = (),
    ) -> None:
        """contacts: (id, channel, customer, started, status, assisted, answered);
        events: the knowledge events (t, type, contact, queue, agent, channel, data) in
        log order; starts: each customer's contact starts, sorted; surveys:
        survey.answered rows like `events`."""
        rows = {row[0]: row for row in contacts}
        for _t, kind, cid, _queue, _agent, _channel, data in events:
            if cid not in rows:
                continue
            data = data or {}
            if cid not in self._language:
                self._language[cid] = str(data.get("language") or "-")
            for st in self._stats(cid):
                if kind == EventType.KNOWLEDGE_SEARCHED:
                    st.questions += 1
                elif kind == EventType.KNOWLEDGE_ANSWERED:
                    st.answers += 1
                elif kind == EventType.KNOWLEDGE_FEEDBACK:
                    if data.get("helpful") is True:
                        st.helpful += 1
                    else:
                        st.not_helpful += 1
                elif kind == EventType.KNOWLEDGE_UNANSWERED:
                    st.unanswered += 1
            if kind == EventType.KNOWLEDGE_UNANSWERED:
                self._unanswered(cid, data)
        for cid in self._language:
            _id, _channel, customer, started, status, assisted, _answered = rows[cid]
            for st in self._stats(cid):
                st.contacts += 1
                st.handed_over += bool(assisted)
                if status in FINAL:
                    st.ended += 1
                    if (
                        status == "completed"
                        and not assisted
                        and not self._repeat(
                            starts.get(customer, []) if customer is not None else [], started
                        )
                    ):
                        st.contained += 1
        for _t, _kind, cid, _queue, _agent, _channel, data in surveys:
            row = rows.get(cid)
            if row is None:
                continue
            scores = _scores(data or {})
            if row[6]:  # answered by an agent
                self.total.agent_scores += scores
            elif cid in self._language:
                self.total.bot_scores += scores

    def _stats(self, cid: str) -> tuple[BotStats, BotStats]:
        language = self._language[cid]
        per = self.languages.get(language)
        if per is None:
            per = self.languages[language] = BotStats()
        return per, self.total

    def _repeat(self, times: list[float], started: float) -> bool:
        """Did the customer start another contact within the window after this one?"""
        j = bisect.bisect_right(times, started)
        return j < len(times) and times[j] - started <= self.window

    def _unanswered(self, cid: str, data: dict[str, Any]) -> None:
        question = str(data.get("question") or "")
        key = question_key(question)
        if not key:
            return
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group()
        group.count += 1
        group.contacts.add(cid)
        group.languages.add(str(data.get("language") or "-"))
        group.example = question

    def tables(self) -> dict[str, Table]:
        rows = [{"language": lang, **st.row()} for lang, st in sorted(self.languages.items())]
        if rows:
            rows.append({"language": "all", **self.total.row()})
        for row in rows[:-1]:  # surveys are told apart per contact, not per language
            row["csat_bot"] = row["csat_agent"] = None
        groups = sorted(self.groups.items(), key=lambda item: (-item[1].count, item[0]))
        unanswered = [
            {
                "question": key,
                "count": g.count,
                "contacts": len(g.contacts),
                "languages": ", ".join(sorted(g.languages)),
                "example": g.example,
            }
            for key, g in groups[:MAX_UNANSWERED]
        ]
        return {
            "bot": Table(
                "bot",
                "Bot (knowledge answers): accuracy, containment, hand-over",
                [Column("language", "language", "text"), *columns(BOT_COLUMNS)],
                rows,
                note="Contacts that started in the period and asked the knowledge node, by "
                "the language of their first question. CSAT on the 'all' row only.",
            ),
            "bot_unanswered": Table(
                "bot_unanswered",
                "Questions the bot could not answer (grouped)",
                columns(UNANSWERED_COLUMNS),
                unanswered,
                note=f"The {MAX_UNANSWERED} most frequent; grouped by their words "
                "(case and punctuation ignored).",
            ),
        }


async def bot_tables(
    source: EventSource,
    contacts: list[tuple[Any, ...]],
    documents: Iterable[tuple[Any, ...]],
    starts: dict[int, list[float]],
    t0: float,
    t1: float,
    window: float,
) -> dict[str, Table]:
    """The `bot` and `bot_unanswered` tables of the contacts that started in [t0, t1)
    (`documents`: the report's rare events, its surveys among them)."""
    events = await source.documents(t0, t1 + FLAG_LOOKAHEAD, BOT_EVENTS)
    surveys = [row for row in documents if row[1] == EventType.SURVEY_ANSWERED]
    fold = BotFold(window)
    fold.feed(contacts, events, starts, surveys)
    return fold.tables()


def _scores(data: dict[str, Any]) -> list[float]:
    answers = data.get("answers")
    if not isinstance(answers, dict):
        return []
    return [
        float(s) for s in answers.values() if isinstance(s, int | float) and not isinstance(s, bool)
    ]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
