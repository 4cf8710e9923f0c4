"""Evaluations of contacts: submitted with a form, scored, stored, read back.

An evaluation scores the agent who handled the contact (the last one who answered it,
unless the evaluator names another who did). Several supervisors may score the same
contact with the same form: that is calibration, and `calibration` gives the spread.
Each submission is also an `evaluation.submitted` event in the contact's log, so the
timeline shows it.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.events import EventType
from hotline.quality.forms import Form
from hotline.quality.scoring import score
from hotline.store import Store
from hotline.store.coltypes import as_utc, utcnow
from hotline.store.evaluation_rows import EvaluationRow
from hotline.store.models import table_of
from hotline.store.notes import handled_by

EVALUATIONS = table_of(EvaluationRow)
MAX_COMMENT = 2000


class EvaluationError(ValueError):
    """An evaluation refused; the message says why (nothing was stored)."""


@dataclass(frozen=True)
class Evaluation:
    id: int
    contact_id: str
    form: str
    evaluator: str
    agent: str
    queue: str | None
    created_at: datetime
    answers: dict[str, Any]
    score: float | None
    passed: bool
    sections: dict[str, float | None]
    questions: dict[str, float | None]
    failed_by: list[str]
    comment: str

    def public(self) -> dict[str, Any]:
        shown = {k: v for k, v in self.__dict__.items()}
        shown["created_at"] = self.created_at.isoformat()
        return shown


@dataclass(frozen=True)
class Spread:
    """How far apart the evaluators of one contact are (scores 0-100)."""

    evaluators: int
    low: float | None
    high: float | None
    range: float | None
    stdev: float | None


@dataclass(frozen=True)
class Calibration:
    contact_id: str
    form: str
    evaluations: list[Evaluation]
    total: Spread
    questions: dict[str, Spread]

    def public(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "form": self.form,
            "evaluations": [e.public() for e in self.evaluations],
            "total": self.total.__dict__,
            "questions": {q: s.__dict__ for q, s in self.questions.items()},
        }


def spread(values: list[float | None]) -> Spread:
    """The spread of some scores; n/a (None) left out."""
    known = [v for v in values if v is not None]
    if not known:
        return Spread(len(values), None, None, None, None)
    low, high = min(known), max(known)
    sd = round(statistics.pstdev(known), 2) if len(known) > 1 else 0.0
    return Spread(len(values), low, high, round(high - low, 2), sd)


class Evaluations:
    def __init__(self, store: Store, forms: Mapping[str, Form]) -> None:
        self.store = store
        self.forms = forms

    async def submit(
        self,
        contact_id: str,
        form_id: str,
        answers: Mapping[str, object],
        evaluator: str,
        *,
        agent: str | None = None,
        comment: str = "",
    ) -> Evaluation:
        """Check, score and store an evaluation (EvaluationError says what is wrong)."""
        form = self.forms.get(form_id)
        if form is None:
            known = ", ".join(sorted(self.forms)) or "none"
            raise EvaluationError(f"unknown form {form_id!r} (forms: {known})")
        if len(comment) > MAX_COMMENT:
            raise EvaluationError(f"comment is longer than {MAX_COMMENT} characters")
        if await self.store.contact(contact_id) is None:
            raise EvaluationError(f"contact {contact_id!r} does not exist")
        agents, queue = await handled_by(self.store, contact_id)
        if not agents:
            raise EvaluationError(f"contact {contact_id!r} was not answered by an agent")
        if agent is None:
            agent = agents[-1]
        elif agent not in agents:
            raise EvaluationError(
                f"agent {agent!r} did not handle contact {contact_id!r} "
                f"(handled by {', '.join(agents)})"
            )
        result = score(form, answers)  # AnswerError (a ValueError) names the question
        values: dict[str, Any] = {
            "contact_id": contact_id,
            "form": form.form,
            "evaluator": evaluator,
            "agent": agent,
            "queue": queue,
            "created_at": utcnow(),
            "answers": dict(answers),
            "score": result.total,
            "passed": result.passed,
            "sections": result.sections,
            "questions": result.questions,
            "failed_by": list(result.failed_by),
            "comment": comment,
        }

        async def op(conn: AsyncConnection) -> int:
            done = await conn.execute(insert(EVALUATIONS).values(values))
            key = done.inserted_primary_key
            assert key is not None  # a single-row insert always has one
            return int(key[0])

        new_id = await self.store.write(op, "save evaluation")
        await self.store.append(
            contact_id,
            EventType.EVALUATION_SUBMITTED,
            {
                "evaluation": new_id,
                "form": form.form,
                "by": evaluator,
                "agent": agent,
                "score": result.total,
                "passed": result.passed,
            },
            queue=queue,
            agent=agent,
        )
        return Evaluation(id=new_id, **values)

    async def of_contact(self, contact_id: str) -> list[Evaluation]:
        query = (
            select(EVALUATIONS)
            .where(EVALUATIONS.c.contact_id == contact_id)
            .order_by(EVALUATIONS.c.id)
        )
        return await self._rows(query, "contact evaluations")

    async def between(self, start: datetime, end: datetime) -> list[Evaluation]:
        """Evaluations submitted in [start, end), oldest first."""
        query = (
            select(EVALUATIONS)
            .where(
                EVALUATIONS.c.created_at >= as_utc(start, "start"),
                EVALUATIONS.c.created_at < as_utc(end, "end"),
            )
            .order_by(EVALUATIONS.c.created_at, EVALUATIONS.c.id)
        )
        return await self._rows(query, "evaluations between")

    async def calibration(self, contact_id: str, form_id: str) -> Calibration:
        """Every evaluation of one contact with one form, and how far apart they are
        (the newest of each evaluator counts, so a corrected one is not counted twice)."""
        form = self.forms.get(form_id)
        if form is None:
            raise EvaluationError(f"unknown form {form_id!r}")
        latest: dict[str, Evaluation] = {}
        for evaluation in await self.of_contact(contact_id):
            if evaluation.form == form_id:
                latest[evaluation.evaluator] = evaluation
        chosen = sorted(latest.values(), key=lambda e: e.id)
        questions = {
            q.id: spread([e.questions.get(q.id) for e in chosen]) for _, q in form.questions()
        }
        return Calibration(
            contact_id, form_id, chosen, spread([e.score for e in chosen]), questions
        )

    async def _rows(self, query: Any, what: str) -> list[Evaluation]:
        async def op(conn: AsyncConnection) -> list[Any]:
            return list((await conn.execute(query)).all())

        rows = await self.store.read(op, what)
        return [Evaluation(**row._mapping) for row in rows]
