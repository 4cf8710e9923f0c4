"""The wallboard's live call handling (pure): who is on hold, consulting, in a
conference or calling out now, and today's counts; what ends each; midnight."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hotline.acd.decisions import AgentSnapshot, ChannelSnapshot, Snapshot
from hotline.reports import ReportSettings
from hotline.reports.live import LiveBoard
from hotline.store.records import LoggedEvent
from tests.unit.reports.test_report_live import T0


class Log:
    """Events as the adapters log them: the agent in the data, no agent column."""

    def __init__(self) -> None:
        self.board = LiveBoard(ReportSettings(timezone="Europe/Berlin"))
        self.n = 0

    def __call__(
        self, seconds: float, type: str, contact: str | None, queue: str | None = None, **data: Any
    ) -> bool:
        self.n += 1
        ts = T0 + timedelta(seconds=seconds)
        column = data["agent"] if type.startswith("agent.") else None
        if column:
            del data["agent"]
        return self.board.apply(LoggedEvent(self.n, contact, ts, type, queue, column, data))


def snapshot(*agents: str, state: str = "busy") -> Snapshot:
    return Snapshot(
        at=0.0,
        queues=[],
        agents=[
            AgentSnapshot(a, {"voice": ChannelSnapshot(state, 1, 1, None, 0.0)}, 0) for a in agents
        ],
    )


def activity(view: dict, agent: str) -> dict | None:  # type: ignore[type-arg]
    (row,) = [a for a in view["agents"] if a["agent"] == agent]
    (voice,) = [c for c in row["channels"] if c["channel"] == "voice"]
    return voice["activity"]  # type: ignore[no-any-return]


def at(seconds: float) -> float:
    return (T0 + timedelta(seconds=seconds)).timestamp()


def test_now_and_today() -> None:
    log = Log()
    assert log(0, "call.held", "c1", agent="a1", by="a1")
    log(5, "call.consult_started", "c2", agent="a2", to="agent:a3", by="a2")
    log(6, "outbound.started", "c3", agent="a3", to="5550100", by="a3", **{"queue": "sales"})
    view = log.board.view(snapshot("a1", "a2", "a3", "a4"), at(20))
    assert activity(view, "a1") == {"activity": "on hold", "seconds": 20.0}
    assert activity(view, "a2") == {"activity": "consulting", "seconds": 15.0}
    assert activity(view, "a3") == {"activity": "outbound", "seconds": 14.0}
    assert activity(view, "a4") is None
    calls = view["calls"]
    assert (calls["on_hold"], calls["consulting"], calls["outbound_now"]) == (1, 1, 1)
    assert (calls["holds"], calls["consults"], calls["outbound"]) == (1, 1, 1)

    # the hold ends; the consultation becomes a conference; the outbound call is answered
    log(30, "call.resumed", "c1", agent="a1", by="a1", hold_seconds=30.0, ended=False)
    log(31, "call.consult_ended", "c2", agent="a2", to="agent:a3", outcome="conference")
    log(31, "call.conference_started", "c2", agent="a2", to="agent:a3", party="a3")
    log(32, "outbound.answered", "c3", "sales", agent="a3", to="5550100")
    view = log.board.view(snapshot("a1", "a2", "a3"), at(40))
    assert activity(view, "a1") is None
    assert activity(view, "a2") == {"activity": "conference", "seconds": 9.0}
    assert activity(view, "a3") == {"activity": "outbound", "seconds": 34.0}
    calls = view["calls"]
    assert (calls["on_hold"], calls["consulting"], calls["in_conference"]) == (0, 0, 1)
    assert (calls["conferences"], calls["outbound_answered"]) == (1, 1)

    # transfers by kind and target; the conversation's end clears everything of c2
    log(50, "call.transferred", "c1", agent="a1", to="queue:sales", kind="blind")
    log(51, "call.transferred", "c4", agent="a4", to="number:5551234", kind="consult")
    log(52, "call.transferred", "c5", agent="a4", to="agent:a2", kind="blind")
    log(60, "queue.call_ended", "c2", agent="a2", ended_by="caller", talk_seconds=60.0)
    log(61, "call.ended", "c3", status="completed", reason="hangup", hung_up_by="caller")
    log(62, "outbound.started", "c6", agent="a1", to="5550101", queue="sales")
    log(70, "outbound.failed", "c6", agent="a1", to="5550101", reason="no answer")
    view = log.board.view(snapshot("a1", "a2", "a3"), at(80))
    assert [activity(view, a) for a in ("a1", "a2", "a3")] == [None, None, None]
    calls = view["calls"]
    assert calls["transfers"] == 3
    assert (calls["blind_queue"], calls["consult_external"], calls["blind_agent"]) == (1, 1, 1)
    assert (calls["blind_external"], calls["consult_agent"], calls["consult_queue"]) == (0, 0, 0)
    assert (calls["outbound"], calls["outbound_answered"], calls["outbound_failed"]) == (2, 1, 1)
    assert sum(calls[k] for k in ("on_hold", "consulting", "in_conference", "outbound_now")) == 0


def test_a_transfer_or_logout_ends_the_agents_part_and_offline_shows_nothing() -> None:
    log = Log()
    log(0, "call.held", "c1", agent="a1", by="a1")
    log(1, "call.transferred", "c1", agent="a1", to="agent:a2", kind="blind")
    log(2, "call.held", "c2", agent="a2", by="a2")
    log(3, "agent.logout", None, agent="a2", channel="voice", **{"from": "busy", "to": "offline"})
    log(4, "call.held", "c3", agent="a3", by="a3")
    view = log.board.view(snapshot("a1", "a2"), at(10))
    assert activity(view, "a1") is None and activity(view, "a2") is None
    assert activity(log.board.view(snapshot("a3", state="offline"), at(10)), "a3") is None
    assert view["calls"]["on_hold"] == 1  # c3
    assert view["calls"]["holds"] == 3


def test_counts_start_again_at_midnight() -> None:
    log = Log()
    log(0, "call.held", "c1", agent="a1", by="a1")
    log(1, "call.transferred", "c1", agent="a1", to="agent:a2", kind="blind")
    next_day = 24 * 3600
    view = log.board.view(snapshot(), at(next_day))
    assert view["calls"]["holds"] == 0 and view["calls"]["transfers"] == 0
    log(next_day + 1, "call.held", "c2", agent="a2", by="a2")
    assert log.board.view(snapshot(), at(next_day + 2))["calls"]["holds"] == 1


def test_an_outbound_call_is_no_queue_visit() -> None:
    log = Log()
    # the engine logs the join (for the agent only); the wallboard learns from the store
    # that the contact is an outbound call
    log(0, "contact.join", "c1", "sales", channel="voice")
    log.board.not_a_visit("c1")
    log(1, "outbound.started", "c1", "sales", agent="a1", to="5550100", by="a1")
    log(5, "contact.answered", "c1", "sales", channel="voice")
    log(6, "contact.join", "c2", "sales", channel="voice")  # an inbound caller waits
    view = log.board.view(snapshot("a1"), at(10))
    (sales,) = view["queues"]
    assert (sales["waiting"], sales["offered"], sales["answered"]) == (1, 0, 0)
    assert activity(view, "a1") == {"activity": "outbound", "seconds": 9.0}
