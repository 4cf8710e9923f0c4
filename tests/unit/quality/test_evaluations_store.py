"""Evaluations stored on SQLite and PostgreSQL: submit, refuse, read back, calibrate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline.quality.evaluations import EvaluationError, Evaluations
from hotline.quality.forms import load_forms
from hotline.quality.scoring import AnswerError
from hotline.store import Store

FORMS = load_forms(Path(__file__).resolve().parents[3] / "config" / "evaluations")
GOOD = {
    "greeting": "yes",
    "verified": "yes",
    "understood": 4,
    "empathy": "na",
    "hold_explained": "no",
    "resolved": "yes",
    "wrap_up": "no",
}


async def _handled(store: Store, agent: str = "alice") -> str:
    contact = await store.open_contact("voice", "inbound", "+15550100", "100")
    await store.append(contact, "contact.answered", {"agent": agent}, queue="support", agent=agent)
    return contact


async def test_submit_scores_stores_and_logs(store: Store) -> None:
    contact = await _handled(store)
    evaluations = Evaluations(store, FORMS)
    saved = await evaluations.submit(contact, "call_quality", GOOD, "sue", comment="ok")
    assert (saved.agent, saved.queue, saved.score, saved.passed) == (
        "alice",
        "support",
        66.67,
        False,
    )
    [read] = await evaluations.of_contact(contact)
    assert read == saved
    logged = [e for e in await store.events(contact) if e.type == "evaluation.submitted"]
    assert [e.data for e in logged] == [
        {
            "evaluation": saved.id,
            "form": "call_quality",
            "by": "sue",
            "agent": "alice",
            "score": 66.67,
            "passed": False,
        }
    ]
    now = datetime.now(UTC)
    assert await evaluations.between(now - timedelta(minutes=1), now + timedelta(minutes=1)) == [
        saved
    ]
    assert await evaluations.between(now + timedelta(minutes=1), now + timedelta(minutes=2)) == []


@pytest.mark.parametrize(
    ("contact", "form", "answers", "agent", "comment", "error", "message"),
    [
        (
            "known",
            "nope",
            GOOD,
            None,
            "",
            EvaluationError,
            "unknown form 'nope' \\(forms: call_quality\\)",
        ),
        (
            "missing",
            "call_quality",
            GOOD,
            None,
            "",
            EvaluationError,
            "contact 'missing' does not exist",
        ),
        (
            "unanswered",
            "call_quality",
            GOOD,
            None,
            "",
            EvaluationError,
            "was not answered by an agent",
        ),
        (
            "known",
            "call_quality",
            GOOD,
            "bob",
            "",
            EvaluationError,
            "agent 'bob' did not handle contact .* \\(handled by alice\\)",
        ),
        (
            "known",
            "call_quality",
            GOOD,
            None,
            "x" * 2001,
            EvaluationError,
            "comment is longer than 2000",
        ),
        (
            "known",
            "call_quality",
            {**GOOD, "understood": 9},
            None,
            "",
            AnswerError,
            "question 'understood': 9 is outside 1-5",
        ),
        (
            "known",
            "call_quality",
            {**GOOD, "verified": "na"},
            None,
            "",
            AnswerError,
            "question 'verified' does not allow n/a",
        ),
    ],
)
async def test_bad_submissions_store_nothing(
    store: Store,
    contact: str,
    form: str,
    answers: dict[str, object],
    agent: str | None,
    comment: str,
    error: type[Exception],
    message: str,
) -> None:
    known = await _handled(store)
    unanswered = await store.open_contact("voice", "inbound", "+15550101", "100")
    target = {"known": known, "unanswered": unanswered}.get(contact, contact)
    evaluations = Evaluations(store, FORMS)
    with pytest.raises(error, match=message):
        await evaluations.submit(target, form, answers, "sue", agent=agent, comment=comment)
    assert await evaluations.of_contact(known) == []
    assert [e for e in await store.events(known) if e.type == "evaluation.submitted"] == []


async def test_calibration_spread(store: Store) -> None:
    contact = await _handled(store)
    evaluations = Evaluations(store, FORMS)
    # sue: 66.67 (above); tom: understood 5 and hold n/a -> handling 100, total
    # (1 + 2 + 2/3) / 4 = 91.67; tom's first try (a fail-all "no": 0) is replaced by his
    # second, so it does not count.
    await evaluations.submit(contact, "call_quality", GOOD, "sue")
    await evaluations.submit(contact, "call_quality", {**GOOD, "verified": "no"}, "tom")
    await evaluations.submit(
        contact, "call_quality", {**GOOD, "understood": 5, "hold_explained": "na"}, "tom"
    )
    calibration = await evaluations.calibration(contact, "call_quality")
    assert [e.evaluator for e in calibration.evaluations] == ["sue", "tom"]
    total = calibration.total
    assert (total.evaluators, total.low, total.high, total.range) == (2, 66.67, 91.67, 25.0)
    assert total.stdev == 12.5
    assert calibration.questions["understood"].range == 25.0  # 75 and 100
    assert calibration.questions["greeting"].range == 0.0
    hold = calibration.questions["hold_explained"]  # 0 and n/a: one known value
    assert (hold.low, hold.high, hold.range, hold.stdev) == (0.0, 0.0, 0.0, 0.0)
    empathy = calibration.questions["empathy"]  # n/a for both
    assert (empathy.evaluators, empathy.low, empathy.range) == (2, None, None)
