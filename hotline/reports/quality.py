"""The quality report: evaluation scores per agent, queue, question and day, and the
calibration spread of contacts scored by several supervisors.

Averages are of stored scores (0-100, n/a left out); a fail-all evaluation counts as its
score 0. The evaluation counts on the day (report time zone) it was submitted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hotline.quality.evaluations import Evaluation, Evaluations, spread
from hotline.quality.forms import Form
from hotline.reports.errors import ReportError
from hotline.reports.tables import Table, columns, ratio

MAX_DAYS = 400

SCORE_COLUMNS = [
    ("evaluations", "evaluations", "int"),
    ("avg_score", "avg score", "pct"),
    ("pass_rate", "passed", "pct"),
    ("failed_all", "fail-all", "int"),
]


def _scores(found: Sequence[Evaluation]) -> dict[str, float | int | None]:
    known = [e.score for e in found if e.score is not None]
    return {
        "evaluations": len(found),
        "avg_score": round(sum(known) / len(known), 2) if known else None,
        "pass_rate": ratio(sum(e.passed for e in found), len(found)),
        "failed_all": sum(bool(e.failed_by) for e in found),
    }


def quality_tables(
    found: Sequence[Evaluation],
    forms: Mapping[str, Form],
    zone: ZoneInfo,
    start: date,
    end: date,
) -> dict[str, Table]:
    """The report's tables for evaluations already chosen (period and filters)."""
    tables: dict[str, Table] = {}
    by_agent: dict[str, list[Evaluation]] = defaultdict(list)
    by_queue: dict[str, list[Evaluation]] = defaultdict(list)
    by_day: dict[date, list[Evaluation]] = defaultdict(list)
    for e in found:
        by_agent[e.agent].append(e)
        by_queue[e.queue or "-"].append(e)
        by_day[e.created_at.astimezone(zone).date()].append(e)
    agents = Table(
        "quality_agents", "Quality by agent", columns([("agent", "agent", "text"), *SCORE_COLUMNS])
    )
    agents.rows = [{"agent": a, **_scores(by_agent[a])} for a in sorted(by_agent)]
    queues = Table(
        "quality_queues", "Quality by queue", columns([("queue", "queue", "text"), *SCORE_COLUMNS])
    )
    queues.rows = [{"queue": q, **_scores(by_queue[q])} for q in sorted(by_queue)]
    days = Table(
        "quality_days", "Quality by day", columns([("day", "day", "text"), *SCORE_COLUMNS])
    )
    day = start
    while day < end:
        days.rows.append({"day": day.isoformat(), **_scores(by_day.get(day, []))})
        day += timedelta(days=1)
    questions = Table(
        "quality_questions",
        "Quality by question",
        columns(
            [
                ("form", "form", "text"),
                ("question", "question", "text"),
                ("text", "text", "text"),
                ("answered", "answered", "int"),
                ("na", "n/a", "int"),
                ("avg_score", "avg score", "pct"),
            ]
        ),
    )
    for form_id in sorted({e.form for e in found}):
        form = forms.get(form_id)
        of_form = [e for e in found if e.form == form_id]
        ids = (
            [q.id for _, q in form.questions()]
            if form
            else sorted({q for e in of_form for q in e.questions})
        )
        for qid in ids:
            values = [e.questions.get(qid) for e in of_form if qid in e.questions]
            known = [v for v in values if v is not None]
            question = form.question(qid) if form else None
            questions.rows.append(
                {
                    "form": form_id,
                    "question": qid,
                    "text": question.text if question else "",
                    "answered": len(known),
                    "na": len(values) - len(known),
                    "avg_score": round(sum(known) / len(known), 2) if known else None,
                }
            )
    calibration = Table(
        "quality_calibration",
        "Calibration: contacts scored by several supervisors",
        columns(
            [
                ("contact_id", "contact", "text"),
                ("form", "form", "text"),
                ("agent", "agent", "text"),
                ("evaluators", "evaluators", "int"),
                ("low", "lowest", "pct"),
                ("high", "highest", "pct"),
                ("range", "spread", "num"),
                ("stdev", "sd", "num"),
            ]
        ),
    )
    latest: dict[tuple[str, str], dict[str, Evaluation]] = defaultdict(dict)
    for e in sorted(found, key=lambda e: e.id):
        latest[(e.contact_id, e.form)][e.evaluator] = e  # each evaluator's latest
    for (contact, form_id), chosen in sorted(latest.items()):
        if len(chosen) < 2:
            continue
        s = spread([e.score for e in chosen.values()])
        calibration.rows.append(
            {
                "contact_id": contact,
                "form": form_id,
                "agent": next(iter(chosen.values())).agent,
                "evaluators": s.evaluators,
                "low": s.low,
                "high": s.high,
                "range": s.range,
                "stdev": s.stdev,
            }
        )
    calibration.note = "The spread is highest minus lowest score, each evaluator's latest."
    for table in (agents, queues, days, questions, calibration):
        tables[table.name] = table
    return tables


async def quality_report(
    evaluations: Evaluations,
    zone: ZoneInfo,
    start: date,
    end: date,
    *,
    form: str | None = None,
    agent: str | None = None,
    queue: str | None = None,
) -> dict[str, Table]:
    """Evaluations submitted on local days [start, end] (end included), filtered."""
    if end < start:
        raise ReportError("to must not be before from")
    if (end - start).days >= MAX_DAYS:
        raise ReportError(f"a quality report covers at most {MAX_DAYS} days")
    if form is not None and form not in evaluations.forms:
        raise ReportError(f"unknown form {form!r}")
    after = end + timedelta(days=1)
    t0 = datetime(start.year, start.month, start.day, tzinfo=zone)
    t1 = datetime(after.year, after.month, after.day, tzinfo=zone)
    found = [
        e
        for e in await evaluations.between(t0, t1)
        if (form is None or e.form == form)
        and (agent is None or e.agent == agent)
        and (queue is None or e.queue == queue)
    ]
    return quality_tables(found, evaluations.forms, zone, start, after)
