"""The quality report's tables from hand-made evaluations (values worked out here)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline.quality.evaluations import Evaluation, Evaluations
from hotline.quality.forms import load_forms
from hotline.reports.errors import ReportError
from hotline.reports.quality import quality_report, quality_tables
from hotline.store import Store

FORMS = load_forms(Path(__file__).resolve().parents[3] / "config" / "evaluations")
QUESTIONS = [
    "greeting",
    "verified",
    "understood",
    "empathy",
    "hold_explained",
    "resolved",
    "wrap_up",
]


def ev(
    id: int,
    contact: str,
    by: str,
    agent: str,
    queue: str,
    when: str,
    score: float,
    passed: bool,
    failed: tuple[str, ...] = (),
    empathy: float | None = None,
) -> Evaluation:
    questions: dict[str, float | None] = dict.fromkeys(QUESTIONS, 100.0)
    questions["empathy"] = empathy
    return Evaluation(
        id,
        contact,
        "call_quality",
        by,
        agent,
        queue,
        datetime.fromisoformat(when),
        {},
        score,
        passed,
        {},
        questions,
        list(failed),
        "",
    )


FOUND = [
    ev(1, "c1", "sue", "alice", "sales", "2026-11-30T10:00:00+00:00", 90.0, True, empathy=50.0),
    ev(2, "c1", "tom", "alice", "sales", "2026-11-30T11:00:00+00:00", 70.0, False),
    ev(
        3,
        "c2",
        "sue",
        "bob",
        "support",
        "2026-12-01T23:30:00+00:00",
        0.0,
        False,
        ("verified",),
        100.0,
    ),
    ev(4, "c1", "tom", "alice", "sales", "2026-12-01T09:00:00+00:00", 80.0, True),  # tom again
]


def test_tables_by_hand() -> None:
    tables = quality_tables(
        FOUND, FORMS, ZoneInfo("Europe/Berlin"), date(2026, 11, 30), date(2026, 12, 3)
    )
    # alice: 90, 70, 80 -> 80; 2 of 3 passed
    assert tables["quality_agents"].rows == [
        {
            "agent": "alice",
            "evaluations": 3,
            "avg_score": 80.0,
            "pass_rate": pytest.approx(66.67, abs=0.01),
            "failed_all": 0,
        },
        {"agent": "bob", "evaluations": 1, "avg_score": 0.0, "pass_rate": 0.0, "failed_all": 1},
    ]
    assert [r["queue"] for r in tables["quality_queues"].rows] == ["sales", "support"]
    # Berlin: 23:30 UTC on 1 December is 00:30 on the 2nd
    days = {r["day"]: r["evaluations"] for r in tables["quality_days"].rows}
    assert days == {"2026-11-30": 2, "2026-12-01": 1, "2026-12-02": 1}
    empathy = next(r for r in tables["quality_questions"].rows if r["question"] == "empathy")
    assert (empathy["answered"], empathy["na"], empathy["avg_score"]) == (2, 2, 75.0)
    # c1: sue 90, tom's latest 80 -> spread 10, sd 5
    assert tables["quality_calibration"].rows == [
        {
            "contact_id": "c1",
            "form": "call_quality",
            "agent": "alice",
            "evaluators": 2,
            "low": 80.0,
            "high": 90.0,
            "range": 10.0,
            "stdev": 5.0,
        }
    ]
    assert (
        tables["quality_agents"].csv().splitlines()[0]
        == "agent,evaluations,avg_score,pass_rate,failed_all"
    )


async def test_read_from_the_store_and_bad_input(store: Store) -> None:
    contact = await store.open_contact("voice", "inbound", "+15550100", "100")
    await store.append(contact, "contact.answered", {}, queue="sales", agent="alice")
    evaluations = Evaluations(store, FORMS)
    answers = dict.fromkeys(
        ["greeting", "verified", "hold_explained", "resolved", "wrap_up"], "yes"
    )
    await evaluations.submit(
        contact, "call_quality", {**answers, "understood": 5, "empathy": 5}, "sue"
    )
    today = datetime.now(UTC).date()
    tables = await quality_report(evaluations, ZoneInfo("UTC"), today, today, agent="alice")
    assert tables["quality_agents"].rows[0]["avg_score"] == 100.0
    none = await quality_report(evaluations, ZoneInfo("UTC"), today, today, agent="bob")
    assert none["quality_agents"].rows == []
    with pytest.raises(ReportError, match="to must not be before from"):
        await quality_report(evaluations, ZoneInfo("UTC"), today, date(2000, 1, 1))
    with pytest.raises(ReportError, match="unknown form 'x'"):
        await quality_report(evaluations, ZoneInfo("UTC"), today, today, form="x")
