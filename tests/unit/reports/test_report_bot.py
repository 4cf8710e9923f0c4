"""Golden bot measures: a hand-written log of contacts that asked the knowledge node,
every expected value worked out here. Day 2026-11-23, period 09:00-11:00 UTC.

    B1 chat  cust 001 09:00 completed  asks (en), answered pay-bill, helpful
    B2 chat  cust 002 09:10 completed  asks (en), answered internet-down, not helpful,
                                       asks again, unanswered "Qwerty zxcv!"; joins
                                       support, an agent answers; survey 5
    B3 chat  cust 003 09:20 completed  asks (ru), answered pay-bill, helpful
    B4 voice cust 003 10:00 completed  no bot: B3's customer came back within 24 h
    B5 chat  nobody   09:30 abandoned  asks (en), unanswered "qwerty  ZXCV"
    B6 chat  cust 006 09:40 completed  asks (en), answered roaming, helpful; survey 4
    B7 chat  cust 007 -1 20:00         asks (en) the day before: not in the period

    all: bot contacts 5 (B1 B2 B3 B5 B6); questions 6; answers 4; helpful 3, not 1:
         accuracy 3/4 = 75 %; unanswered 2; ended 5; contained B1 and B6 (B2 handed
         over, B3 repeated, B5 abandoned) = 2/5 = 40 %; handed over 1/5 = 20 %;
         CSAT bot-only 4 (B6), agent-served 5 (B2)
    en:  contacts 4, questions 5, answers 3, helpful 2, not 1 (66.67 %), unanswered 2,
         contained 2/4 = 50 %, handed over 1/4 = 25 %
    ru:  contacts 1, questions 1, answers 1, helpful 1 (100 %), contained 0/1
    unanswered: "qwerty zxcv" 2 times, 2 contacts, en, last written "qwerty  ZXCV"
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from hotline.reports import ReportQuery, ReportSettings, build_report
from hotline.reports.bot import question_key
from hotline.store import Store
from tests.unit.reports.golden import CONTACTS, at

FROM, TO = "2026-11-23T09:00", "2026-11-23T11:00"
NOW = 2_000_000_000.0

PEOPLE = {
    "B1": ("chat", "+15550001001", "09:00:00", "completed"),
    "B2": ("chat", "+15550001002", "09:10:00", "completed"),
    "B3": ("chat", "+15550001003", "09:20:00", "completed"),
    "B4": ("voice", "+15550001003", "10:00:00", "completed"),
    "B5": ("chat", None, "09:30:00", "abandoned"),
    "B6": ("chat", "+15550001006", "09:40:00", "completed"),
    "B7": ("chat", "+15550001007", "-1 20:00:00", "completed"),
}
NODE = {"flow": "chat", "node": "ask"}


def searched(clock: str, contact: str, question: str, language: str = "en") -> tuple[Any, ...]:
    data = {**NODE, "question": question, "language": language, "articles": [], "confidence": 0}
    return (clock, contact, "knowledge.searched", data, None)


def answered(clock: str, contact: str, article: str, language: str = "en") -> tuple[Any, ...]:
    data = {
        **NODE,
        "question": "q",
        "language": language,
        "article": article,
        "confidence": 0.9,
        "chosen": False,
    }
    return (clock, contact, "knowledge.answered", data, None)


def feedback(clock: str, contact: str, article: str, helpful: bool) -> tuple[Any, ...]:
    data = {**NODE, "article": article, "helpful": helpful}
    return (clock, contact, "knowledge.feedback", data, None)


def unanswered(clock: str, contact: str, question: str) -> tuple[Any, ...]:
    data = {**NODE, "question": question, "language": "en", "tried": []}
    return (clock, contact, "knowledge.unanswered", data, None)


def survey(clock: str, contact: str, score: int) -> tuple[Any, ...]:
    data = {"survey": "csat", "node": "s", "answers": {"q": score}}
    return (clock, contact, "survey.answered", data, None)


EVENTS = [
    searched("09:00:10", "B1", "how to pay"),
    answered("09:00:11", "B1", "pay-bill"),
    feedback("09:00:30", "B1", "pay-bill", True),
    searched("09:10:10", "B2", "internet is down"),
    answered("09:10:11", "B2", "internet-down"),
    feedback("09:10:30", "B2", "internet-down", False),
    searched("09:11:00", "B2", "Qwerty zxcv!"),
    unanswered("09:12:00", "B2", "Qwerty zxcv!"),
    ("09:12:01", "B2", "contact.join", {"at": 0.0, "channel": "chat"}, "support"),
    ("09:12:30", "B2", "contact.answered", {"at": 0.0, "channel": "chat"}, "support"),
    survey("09:20:00", "B2", 5),
    searched("09:20:10", "B3", "как оплатить", "ru"),
    answered("09:20:11", "B3", "pay-bill", "ru"),
    feedback("09:20:30", "B3", "pay-bill", True),
    searched("09:30:10", "B5", "qwerty  ZXCV"),
    unanswered("09:30:20", "B5", "qwerty  ZXCV"),
    searched("09:40:10", "B6", "roaming"),
    answered("09:40:11", "B6", "roaming"),
    feedback("09:40:30", "B6", "roaming", True),
    survey("09:45:00", "B6", 4),
    searched("-1 20:00:10", "B7", "old question"),
    unanswered("-1 20:00:20", "B7", "old question"),
]


@pytest.fixture
async def bot_log(store: Store) -> Store:
    ids: dict[str, str] = {}
    for name, (channel, phone, start, status) in PEOPLE.items():
        customer = await store.customer_for_phone(phone) if phone else None
        cid = await store.open_contact(
            channel, "inbound", phone or "anonymous", "100", customer.id if customer else None
        )
        ids[name] = cid
        stmt = (
            update(CONTACTS)
            .where(CONTACTS.c.id == cid)
            .values(started_at=at(start), ended_at=at(start) + timedelta(minutes=5), status=status)
        )

        async def op(conn: Any, stmt: Any = stmt) -> None:
            await conn.execute(stmt)

        await store.write(op, "bot contact")
    for clock, contact, kind, data, queue in sorted(EVENTS, key=lambda e: at(e[0])):
        await store.append(ids[contact], kind, data, queue=queue, ts=at(clock))
    return store


async def test_bot_measures_by_language(bot_log: Store) -> None:
    report = await build_report(bot_log, ReportQuery(FROM, TO), ReportSettings(), now=NOW)
    rows = {row["language"]: row for row in report.tables["bot"].rows}
    assert rows["all"] == {
        "language": "all",
        "contacts": 5,
        "questions": 6,
        "answers": 4,
        "helpful": 3,
        "not_helpful": 1,
        "accuracy": 75.0,
        "unanswered": 2,
        "ended": 5,
        "contained": 2,
        "containment": 40.0,
        "handed_over": 1,
        "handover_rate": 20.0,
        "csat_bot": 4.0,
        "csat_agent": 5.0,
    }
    en = rows["en"]
    assert (en["contacts"], en["questions"], en["answers"], en["helpful"]) == (4, 5, 3, 2)
    assert en["accuracy"] == pytest.approx(200 / 3)
    assert (en["contained"], en["containment"], en["handover_rate"]) == (2, 50.0, 25.0)
    assert en["csat_bot"] is None
    ru = rows["ru"]
    assert (ru["contacts"], ru["answers"], ru["accuracy"], ru["containment"]) == (1, 1, 100.0, 0.0)
    assert list(rows) == ["en", "ru", "all"]
    assert report.tables["bot_unanswered"].rows == [
        {
            "question": "qwerty zxcv",
            "count": 2,
            "contacts": 2,
            "languages": "en",
            "example": "qwerty  ZXCV",
        }
    ]
    # In the CSV and the text like every table.
    csv = report.tables["bot"].csv().splitlines()
    assert csv[0].startswith("language,contacts,questions,answers,helpful,not_helpful,accuracy")
    assert csv[-1].startswith("all,5,6,4,3,1,75")
    assert "qwerty zxcv" in report.text(["bot", "bot_unanswered"])


async def test_no_bot_tables_for_a_queue_or_agent(bot_log: Store) -> None:
    query = ReportQuery(FROM, TO, queue="support")
    report = await build_report(bot_log, query, ReportSettings(), now=NOW)
    assert "bot" not in report.tables and "bot_unanswered" not in report.tables


async def test_an_empty_period_has_empty_bot_tables(bot_log: Store) -> None:
    query = ReportQuery("2026-11-25T09:00", "2026-11-25T11:00")
    report = await build_report(bot_log, query, ReportSettings(), now=NOW)
    assert report.tables["bot"].rows == [] and report.tables["bot_unanswered"].rows == []
    assert "(no data in this period)" in report.tables["bot"].text()


@pytest.mark.parametrize(
    ("question", "key"),
    [
        ("Qwerty, zxcv?!", "qwerty zxcv"),
        ("  Как  ОПЛАТИТЬ счёт? ", "как оплатить счёт"),
        ("怎么付款？", "怎么付款"),
        ("<script>x</script>", "script x script"),
        ("?!", ""),
    ],
)
def test_questions_group_by_their_words(question: str, key: str) -> None:
    assert question_key(question) == key
