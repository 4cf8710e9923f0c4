"""The wallboard's fold (pure): today's counters, waiting contacts, midnight, and the
contact id on log lines."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hotline.acd.decisions import AgentSnapshot, ChannelSnapshot, QueueSnapshot, Snapshot
from hotline.logcontext import ContactFilter, JsonLines, bind_contact
from hotline.reports import ReportSettings
from hotline.reports.live import LiveBoard
from hotline.store.records import LoggedEvent

SETTINGS = ReportSettings(
    timezone="Europe/Berlin", sl_threshold=20, short_abandon=5, queues={"vip": {"sl_target": 95}}
)
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin


class Log:
    def __init__(self) -> None:
        self.board = LiveBoard(SETTINGS)
        self.n = 0

    def __call__(
        self,
        seconds: float,
        type: str,
        contact: str | None = None,
        queue: str | None = None,
        agent: str | None = None,
        **data: Any,
    ) -> bool:
        self.n += 1
        ts = T0 + timedelta(seconds=seconds)
        return self.board.apply(LoggedEvent(self.n, contact, ts, type, queue, agent, data))


def test_today_counts_service_level_and_abandons() -> None:
    log = Log()
    log(0, "contact.join", "c1", "sales", channel="voice")
    log(10, "contact.answered", "c1", "sales", "a1", channel="voice")  # 10 s: in SL
    log(20, "contact.join", "c2", "sales", channel="voice")
    log(22, "contact.leave", "c2", "sales", channel="voice", detail="left")  # 2 s: short
    log(30, "contact.join", "c3", "sales", channel="voice")
    log(90, "contact.leave", "c3", "sales", channel="voice", detail="left")  # abandoned
    log(100, "contact.join", "c4", "sales", channel="voice")
    log(130, "contact.answered", "c4", "sales", "a1", channel="voice")  # 30 s: not in SL
    log(140, "contact.join", "c5", "sales", channel="voice")
    log(150, "contact.leave", "c5", "sales", channel="voice", detail="timeout")  # overflow
    log(200, "contact.join", "c6", "sales", channel="chat")
    assert log(201, "flow.node", "c6") is False  # not the board's business
    view = log.board.view(None, (T0 + timedelta(seconds=260)).timestamp())
    chat, voice = view["queues"]  # sorted by queue, then channel
    assert (voice["offered"], voice["answered"], voice["abandoned"], voice["short_abandoned"]) == (
        5,
        2,
        1,
        1,
    )
    assert voice["service_level"] == pytest.approx(100 / 3)  # 1 in SL / (2 answered + 1)
    assert voice["sl_colour"] == "red" and voice["asa"] == 20.0
    assert (chat["channel"], chat["waiting"], chat["longest_wait"]) == ("chat", 1, 60.0)
    assert chat["service_level"] is None and chat["sl_colour"] == "grey"
    # contacts the engine no longer holds (e.g. from before a restart) are not waiting
    after_restart = log.board.view(None, T0.timestamp() + 260, live=set())["queues"]
    assert [(q["channel"], q["waiting"]) for q in after_restart] == [("voice", 0)]


def test_midnight_starts_a_new_day_but_keeps_who_waits() -> None:
    log = Log()
    log(0, "contact.join", "c1", "sales", channel="voice")
    log(5, "contact.answered", "c1", "sales", "a1", channel="voice")
    log(10, "contact.join", "c2", "sales", channel="voice")
    midnight = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # Berlin midnight
    view = log.board.view(None, midnight.timestamp() + 60)
    (row,) = view["queues"]
    assert (row["answered"], row["waiting"]) == (0, 1)
    assert view["day_start"] == midnight.timestamp()
    # a visit that joined yesterday and is settled today counts on neither day
    log(14 * 3600 + 120, "contact.answered", "c2", "sales", "a1", channel="voice")
    assert log.board.view(None, midnight.timestamp() + 180)["queues"] == []


def test_days_turn_at_each_local_midnight_across_a_daylight_saving_change() -> None:
    # Berlin, 2026-03-29: clocks go forward at 02:00, the day is 23 hours long.
    board = LiveBoard(SETTINGS)
    n = 0

    def visit(at: datetime, contact: str) -> None:
        nonlocal n
        for kind in ("contact.join", "contact.answered"):
            n += 1
            event = LoggedEvent(n, contact, at, kind, "sales", "a1", {"channel": "voice"})
            assert board.apply(event)

    def answered() -> int:
        return sum(q.answered for q in board.queues.values())

    march_29 = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # Berlin midnight (UTC+1)
    march_30 = datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # Berlin midnight (UTC+2)
    visit(march_29 - timedelta(microseconds=1), "before")  # the 28th's last moment
    assert board.day_start == datetime(2026, 3, 27, 23, 0, tzinfo=UTC).timestamp()
    visit(march_29, "first")
    assert board.day_start == march_29.timestamp() and answered() == 1
    visit(march_30 - timedelta(microseconds=1), "last")  # 23 hours later: still the 29th
    assert board.day_start == march_29.timestamp() and answered() == 2
    visit(march_30, "next")
    assert board.day_start == march_30.timestamp() and answered() == 1
    # An event logged late, from the day before, counts for no day.
    visit(march_30 - timedelta(seconds=5), "late")
    assert board.day_start == march_30.timestamp() and answered() == 1


def test_callbacks_pending_agents_and_calls() -> None:
    log = Log()
    log(0, "callback.requested", "k1", "sales")
    log(1, "callback.requested", "k2", "sales")
    log(2, "callback.completed", "k1", "sales")
    log(3, "call.arrived", "c1")
    log(4, "chat.started", "c2")
    log(5, "agent.accept", "c2", "sales", "a1", channel="chat")
    snapshot = Snapshot(
        at=100.0,
        queues=[
            QueueSnapshot("sales", 0, 0, 0.0, {"voice": 30.0, "chat": None}, 60.0, 1, 1, 0, {})
        ],
        agents=[
            AgentSnapshot(
                "a1",
                {
                    "chat": ChannelSnapshot("available", 1, 3, None, 40.0),
                    "voice": ChannelSnapshot("paused", 0, 1, "lunch", 90.0),
                },
                4,
            )
        ],
    )
    view = log.board.view(snapshot, T0.timestamp() + 10, names={"a1": "Ann"})
    rows = {(q["queue"], q["channel"]): q for q in view["queues"]}
    assert rows[("sales", "callback")]["callbacks_pending"] == 1
    assert rows[("sales", "voice")]["estimated_wait"] == 30.0
    assert view["active"] == {"voice": 1, "chat": 1}
    (agent,) = view["agents"]
    chat, voice = agent["channels"]
    assert (agent["name"], chat["contacts"], chat["in_state"], chat["load"]) == (
        "Ann",
        ["c2"],
        60.0,
        1,
    )
    assert (voice["state"], voice["reason"], voice["in_state"], voice["contacts"]) == (
        "paused",
        "lunch",
        10.0,
        [],
    )


def test_sl_colours_follow_the_queue_targets() -> None:
    assert SETTINGS.colour("sales", 80.0) == "green"
    assert SETTINGS.colour("sales", 75.0) == "amber"
    assert SETTINGS.colour("sales", 69.9) == "red"
    assert SETTINGS.colour("vip", 90.0) == "amber"
    with pytest.raises(ValueError, match=r"sl_amber \(90\) must not be above sl_target \(80\)"):
        ReportSettings(sl_amber=90)


async def test_log_lines_name_their_contact(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("hotline.test")
    caplog.handler.addFilter(ContactFilter())

    async def call(contact: str) -> None:
        bind_contact(contact)
        await asyncio.sleep(0)
        log.warning("serving")
        await asyncio.create_task(asyncio.sleep(0))
        log.warning("still serving")

    await asyncio.gather(call("contact-1"), call("contact-2"))
    log.warning("outside")
    seen = [(r.getMessage(), r.contact) for r in caplog.records]  # type: ignore[attr-defined]
    assert sorted(seen[:4]) == [
        ("serving", "contact-1"),
        ("serving", "contact-2"),
        ("still serving", "contact-1"),
        ("still serving", "contact-2"),
    ]
    assert seen[4] == ("outside", "-")
    line = json.loads(JsonLines().format(caplog.records[0]))
    assert line["contact"] in ("contact-1", "contact-2") and line["message"] == "serving"
    assert json.loads(JsonLines().format(caplog.records[4]))["contact"] is None
