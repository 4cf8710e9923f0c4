"""Monitoring a live call over ARI (ari_app/monitoring.py) on the in-memory ARI: what
is refused before anything is rung, the supervisor's phone and snoop channels made and
cleaned up, each mode's snoop directions, the audit events, and the agent told where
the config says so."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ari_app.call_control import AriCallControl
from ari_app.client import AriNotFound
from ari_app.monitoring import CallMonitors, SupervisorPhones
from hotline.acd.settings import QueueSettings
from hotline.calls import Conflict, NotFound
from hotline.calls.monitor import Mode
from tests.unit.voice.fake_ari import FakeAri, channel_event


class Rig:
    def __init__(self, tell_agent: Any = "no", ring_seconds: float = 5.0) -> None:
        self.ari = FakeAri()
        self.calls = AriCallControl(self.ari, {"support": QueueSettings()})
        self.logged: list[tuple[str, dict[str, Any]]] = []
        self.followed: dict[str, Any] = {}
        self.pushed: list[tuple[str, dict[str, Any]]] = []

        async def emit(kind: str, data: dict[str, Any]) -> None:
            self.logged.append((kind, data))

        self.calls.open("c1", "alice", "support", "caller-1", "leg-1", "talk-1", emit, print)
        self.monitors = CallMonitors(
            self.ari,
            self.calls,
            {"sue": "2901", "tom": "2902"},
            self.followed,
            tell_agent=tell_agent,
            notify=lambda agent, frame: self.pushed.append((agent, frame)),
            ring_seconds=ring_seconds,
        )

    def deliver(self, kind: str, channel: str) -> None:
        self.followed[channel](channel_event(kind, channel))

    async def until(self, check: Any, what: str) -> Any:
        for _ in range(200):
            found = check()
            if found:
                return found
            await asyncio.sleep(0.005)
        raise AssertionError(f"never: {what}; requests {self.ari.requests}")

    def snoops(self) -> list[Any]:
        return [r for r in self.ari.made("POST", "channels/leg-1/snoop")]

    async def snoop_started(self, count: int) -> str:
        snoop = await self.until(
            lambda: len(self.snoops()) >= count and self.snoops()[count - 1], f"snoop {count}"
        )
        snoop_id = str(snoop.param("snoopId"))
        self.deliver("StasisStart", snoop_id)
        return snoop_id

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [data for k, data in self.logged if k == kind]


async def connected(rig: Rig, mode: Any = "listen") -> tuple[str, str]:
    state = await rig.monitors.monitor("c1", "sue", mode)
    assert state.state == "ringing"
    (leg,) = [str(r.param("channelId")) for r in rig.ari.originated()]
    rig.deliver("StasisStart", leg)
    snoop = await rig.snoop_started(1)
    await rig.until(
        lambda: getattr(rig.monitors.of_contact("c1"), "state", "") == "connected", "up"
    )
    return leg, snoop


async def test_refused_before_anything_rings() -> None:
    rig = Rig()
    with pytest.raises(NotFound, match="contact c9 has no live call with an agent"):
        await rig.monitors.monitor("c9", "sue", "listen")
    with pytest.raises(Conflict, match="adam has no phone to monitor on"):
        await rig.monitors.monitor("c1", "adam", "listen")
    assert rig.ari.requests == [] and rig.logged == []
    await rig.monitors.monitor("c1", "sue", "listen")
    with pytest.raises(Conflict, match="contact c1 is already monitored by sue"):
        await rig.monitors.monitor("c1", "tom", "barge")
    rig.calls.open(
        "c2", "bob", "support", "caller-2", "leg-2", "talk-2", rig.calls.calls["c1"].emit, print
    )
    with pytest.raises(Conflict, match="sue is already monitoring contact c1; stop that first"):
        await rig.monitors.monitor("c2", "sue", "listen")
    assert len(rig.ari.originated()) == 1
    await rig.monitors.stop("c1", "sue")


async def test_a_phone_that_cannot_be_rung_leaves_nothing() -> None:
    rig = Rig()
    rig.ari.failures[("POST", "channels")] = AriNotFound(404, "Endpoint not found")
    with pytest.raises(Conflict, match=r"cannot ring sue's phone \(2901\)"):
        await rig.monitors.monitor("c1", "sue", "listen")
    assert rig.monitors.all() == [] and rig.followed == {} and rig.logged == []


async def test_listen_whisper_barge_then_stop() -> None:
    rig = Rig(tell_agent="desk_and_beep")
    leg, first = await connected(rig)
    (originated,) = rig.ari.originated()
    assert originated.param("endpoint") == "PJSIP/2901"
    assert originated.param("appArgs") == "monitor"
    snoop = rig.snoops()[0]
    assert (snoop.param("spy"), snoop.param("whisper")) == ("both", "none")
    bridge = rig.ari.made("POST", "bridges")[0].param("bridgeId")
    added = [r.param("channel") for r in rig.ari.made("POST", f"bridges/{bridge}/addChannel")]
    assert added == [leg, first]
    # The conversation's bridge is never touched.
    assert rig.ari.made("POST", "bridges/talk-1") == []
    assert rig.ari.played("leg-1") == [["sound:beep"]]
    assert rig.pushed[-1] == (
        "alice",
        {
            "type": "monitored",
            "contact_id": "c1",
            "on": True,
            "mode": "listen",
            "supervisor": "sue",
        },
    )

    switches: tuple[tuple[Mode, str], ...] = (("whisper", "out"), ("barge", "both"))
    for n, (mode, whisper) in enumerate(switches, start=2):
        switching = asyncio.ensure_future(rig.monitors.monitor("c1", "sue", mode))
        new = await rig.snoop_started(n)
        state = await switching
        assert state.mode == mode and state.state == "connected"
        assert rig.snoops()[n - 1].param("whisper") == whisper
        assert rig.ari.made("POST", f"bridges/{bridge}/addChannel")[-1].param("channel") == new
    assert rig.ari.hung_up()[:2] == [first, str(rig.snoops()[1].param("snoopId"))]
    same = await rig.monitors.monitor("c1", "sue", "barge")  # the same mode: nothing new
    assert same.mode == "barge" and len(rig.snoops()) == 3

    ended = await rig.monitors.stop("c1", "sue")
    assert ended.state == "ended"
    assert rig.monitors.all() == [] and rig.followed == {}
    last = str(rig.snoops()[2].param("snoopId"))
    assert set(rig.ari.hung_up()) >= {last, leg}
    assert rig.ari.made("DELETE", f"bridges/{bridge}")
    assert [(c["previous"], c["mode"]) for c in rig.of("monitor.changed")] == [
        ("listen", "whisper"),
        ("whisper", "barge"),
    ]
    (done,) = rig.of("monitor.ended")
    assert done["reason"] == "stopped" and set(done["modes"]) == {"listen", "whisper", "barge"}
    assert rig.pushed[-1][1]["on"] is False
    with pytest.raises(NotFound, match="contact c1 is not being monitored"):
        await rig.monitors.stop("c1", "sue")


async def test_the_supervisor_hangs_up() -> None:
    rig = Rig()
    leg, _ = await connected(rig, "whisper")
    rig.deliver("StasisEnd", leg)
    await rig.until(lambda: rig.of("monitor.ended"), "ended")
    (done,) = rig.of("monitor.ended")
    assert done["reason"] == "hung_up" and list(done["modes"]) == ["whisper"]
    assert leg not in rig.ari.hung_up()  # gone already: not hung up again
    assert rig.pushed == []  # tell_agent "no": the agent is told nothing
    assert rig.ari.played("leg-1") == []


async def test_the_call_ends_under_the_monitoring() -> None:
    rig = Rig()
    leg, snoop = await connected(rig)
    rig.deliver("StasisEnd", snoop)  # the agent's leg went, its snoop with it
    await rig.until(lambda: rig.of("monitor.ended"), "ended")
    assert rig.of("monitor.ended")[0]["reason"] == "call_ended"
    assert leg in rig.ari.hung_up()


async def test_the_supervisors_phone_is_not_answered() -> None:
    rig = Rig(ring_seconds=0.05)
    await rig.monitors.monitor("c1", "sue", "listen")
    await rig.until(lambda: rig.of("monitor.ended"), "ended")
    (done,) = rig.of("monitor.ended")
    assert (done["reason"], done["seconds"], done["modes"]) == ("no_answer", 0.0, {})
    assert rig.snoops() == [] and rig.monitors.all() == []


async def test_a_busy_phone_ends_it_at_once() -> None:
    rig = Rig()
    await rig.monitors.monitor("c1", "sue", "barge")
    (leg,) = [str(r.param("channelId")) for r in rig.ari.originated()]
    rig.followed[leg]({"type": "ChannelDestroyed", "channel": {"id": leg}, "cause": 17})
    await rig.until(lambda: rig.of("monitor.ended"), "ended")
    assert rig.of("monitor.ended")[0]["reason"] == "no_answer"
    assert rig.of("monitor.started") == [
        {"supervisor": "sue", "agent": "alice", "mode": "barge", "phone": "2901"}
    ]


async def test_a_mode_asked_while_ringing_is_the_one_connected() -> None:
    rig = Rig()
    await rig.monitors.monitor("c1", "sue", "listen")
    await rig.monitors.monitor("c1", "sue", "whisper")
    (leg,) = [str(r.param("channelId")) for r in rig.ari.originated()]
    rig.deliver("StasisStart", leg)
    await rig.snoop_started(1)
    assert rig.snoops()[0].param("whisper") == "out"
    await rig.monitors.stop("c1", "sue")


async def test_the_call_ends_while_the_supervisors_phone_rings() -> None:
    rig = Rig()
    await rig.monitors.monitor("c1", "sue", "listen")
    (leg,) = [str(r.param("channelId")) for r in rig.ari.originated()]
    await rig.calls.close("c1", "caller")
    await rig.until(lambda: rig.of("monitor.ended"), "ended")
    assert rig.of("monitor.ended")[0]["reason"] == "call_ended"
    assert leg in rig.ari.hung_up() and rig.snoops() == []


async def test_a_team_lead_is_rung_where_their_calls_ring() -> None:
    """A team lead's phone is asked at each monitoring: the desk's browser phone once it
    registered (as their calls ring), their SIP phone before; a user's own phone as is."""
    registered: set[str] = set()

    class LeadPhones(dict[str, str]):
        def __getitem__(self, agent: str) -> str:
            endpoint = super().__getitem__(agent)
            web = f"{endpoint}-web"
            return web if web in registered else endpoint

    phones = SupervisorPhones({"sue": "2901"}, ["tess", "sue"], LeadPhones(tess="2061"))
    assert (dict(phones), len(phones)) == ({"sue": "2901", "tess": "2061"}, 2)
    assert phones.get("carol") is None  # not a supervisor: no phone to monitor on
    rig = Rig()
    rig.monitors.phones = phones
    await rig.monitors.monitor("c1", "tess", "listen")
    await rig.monitors.stop("c1", "tess")
    registered.add("2061-web")  # tess opened her desk: its phone registered
    await rig.until(lambda: rig.monitors.of_contact("c1") is None, "the first ended")
    await rig.monitors.monitor("c1", "tess", "whisper")
    endpoints = [str(r.param("endpoint")) for r in rig.ari.originated()]
    assert endpoints == ["PJSIP/2061", "PJSIP/2061-web"]
    await rig.monitors.stop("c1", "tess")
    phones_rung = [d["phone"] for d in rig.of("monitor.started")]
    assert phones_rung == ["2061", "2061-web"]
