"""Scoring an evaluation: answers to a form's questions -> a 0-100 score.

A question's value is 1 for "yes", 0 for "no", and (answer - min) / (max - min) on a
scale. "na" (where the form allows it) leaves the question out of its section: neither
its weight nor its value counts. A section scores the weighted mean of its answered
questions; the total is the weighted mean of the sections that have any answered
question, times 100. A "no" to a fail-all question makes the total 0 (the sections
keep their own scores, for coaching). The formulas are in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hotline.quality.forms import Form, Question

Answer = str | int
NA = "na"


class AnswerError(ValueError):
    """Answers that do not fit the form; the message names the question."""


@dataclass(frozen=True)
class Score:
    """An evaluation's result; scores are 0-100, None when everything was n/a."""

    total: float | None
    passed: bool
    failed_by: tuple[str, ...]
    sections: dict[str, float | None]
    questions: dict[str, float | None]


def check_answers(form: Form, answers: Mapping[str, object]) -> dict[str, Answer]:
    """Every question answered, each answer of its type; unknown questions refused."""
    known = {q.id for _, q in form.questions()}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise AnswerError(f"unknown question {unknown[0]!r} (form {form.form!r})")
    checked: dict[str, Answer] = {}
    for _, question in form.questions():
        if question.id not in answers:
            raise AnswerError(f"question {question.id!r} is not answered")
        checked[question.id] = _check(question, answers[question.id])
    return checked


def _check(question: Question, answer: object) -> Answer:
    if answer == NA:
        if not question.na_allowed:
            raise AnswerError(f"question {question.id!r} does not allow n/a")
        return NA
    if question.type == "yes_no":
        if answer not in ("yes", "no"):
            raise AnswerError(f"question {question.id!r} takes yes, no or na, got {answer!r}")
        return str(answer)
    scale = question.scale
    assert scale is not None  # Question's validator
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise AnswerError(
            f"question {question.id!r} takes a whole number {scale.min}-{scale.max} or na, "
            f"got {answer!r}"
        )
    if not scale.min <= answer <= scale.max:
        raise AnswerError(f"question {question.id!r}: {answer} is outside {scale.min}-{scale.max}")
    return answer


def _value(question: Question, answer: Answer) -> float | None:
    if answer == NA:
        return None
    if question.type == "yes_no":
        return 1.0 if answer == "yes" else 0.0
    scale = question.scale
    assert scale is not None and isinstance(answer, int)
    return (answer - scale.min) / (scale.max - scale.min)


def score(form: Form, answers: Mapping[str, object]) -> Score:
    """Check the answers and score them (raises AnswerError naming the question)."""
    checked = check_answers(form, answers)
    questions: dict[str, float | None] = {}
    sections: dict[str, float | None] = {}
    failed_by: list[str] = []
    total_weight = total_sum = 0.0
    for section in form.sections:
        weight = weighted = 0.0
        for question in section.questions:
            value = _value(question, checked[question.id])
            questions[question.id] = None if value is None else _pct(value)
            if value is None:
                continue
            weight += question.weight
            weighted += question.weight * value
            if question.fail_all and value == 0.0:
                failed_by.append(question.id)
        section_value = weighted / weight if weight else None
        sections[section.id] = None if section_value is None else _pct(section_value)
        if section_value is not None:
            total_weight += section.weight
            total_sum += section.weight * section_value
    total = _pct(total_sum / total_weight) if total_weight else None
    if failed_by:
        total = 0.0
    passed = not failed_by and total is not None and total >= form.pass_mark
    return Score(total, passed, tuple(failed_by), sections, questions)


def _pct(fraction: float) -> float:
    return round(fraction * 100.0, 2)
