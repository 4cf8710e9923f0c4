"""Sorting what Asterisk still has after a controller restart (ari_app/recovery.survey),
and a recovery pass on a real store with a stand-in for ARI."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from ari_app.recovery import Recovery, in_app, live_recording, survey
from hotline.store import Contact, Store, sqlite_url

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def contact(cid: str, channel: str | None) -> Contact:
    return Contact(
        id=cid,
        channel="voice",
        direction="inbound",
        customer_id=None,
        source="5550001",
        destination="304",
        started_at=T0,
        ended_at=None,
        status="active",
        flow=None,
        flow_version=None,
        language=None,
        node=None,
        variables={},
        asterisk_channel=channel,
        asterisk_node=None,
    )


def chan(cid: str, app_data: str | None = "hotline,inbound") -> dict:
    dialplan = {"app_name": "Stasis", "app_data": app_data} if app_data else {"app_name": "Dial"}
    return {"id": cid, "dialplan": dialplan}


def test_survey_sorts_callers_legs_orphans_and_gone_contacts() -> None:
    channels = [
        chan("w1"),
        chan("w2", "hotline,queue,e2e_fifo,c-w2,en,0,,"),  # a FastAGI hand-off
        chan("t1"),
        chan("t1-agent-abcd1234", "hotline,agent,c-t1"),
        chan("x1"),
        chan("x1-xfer-00000000", None),
        chan("ivr"),
        chan("ring-agent-ffff0000", None),  # an agent leg still ringing
        chan("nobody"),  # in our app, no active contact
        chan("agi", "hotline-other"),  # someone else's
        chan("mine"),  # a live session of this controller
        chan("alone"),  # the agent hung up while no controller ran
        chan("crowd"),  # a talk bridge with two legs: not a shape we make
        chan("crowd-agent-1", "hotline,agent,c-crowd"),
        chan("crowd-agent-2", "hotline,agent,c-crowd"),
    ]
    bridges = [
        {"id": "hold-q", "channels": ["w1", "w2"]},
        {"id": "talk-t1-agent-abcd1234", "channels": ["t1", "t1-agent-abcd1234"]},
        {"id": "xfer-x1-xfer-00000000", "channels": ["x1", "x1-xfer-00000000"]},
        {"id": "talk-alone-agent-1", "channels": ["alone"]},
        {"id": "talk-crowd-agent-1", "channels": ["crowd", "crowd-agent-1", "crowd-agent-2"]},
        {"id": "hold-empty", "channels": []},
        {"id": "someone-elses", "channels": []},
    ]
    contacts = [
        contact("c-w1", "w1"),
        contact("c-w2", "w2"),
        contact("c-t1", "t1"),
        contact("c-x1", "x1"),
        contact("c-ivr", "ivr"),
        contact("c-agi", "agi"),
        contact("c-mine", "mine"),
        contact("c-alone", "alone"),
        contact("c-crowd", "crowd"),
        contact("c-gone", "vanished"),
        contact("c-gone-mine", "vanished-too"),
    ]
    found = survey("hotline", channels, bridges, contacts, lambda ch: ch == "mine", {"c-gone-mine"})
    assert [(w.channel, w.bridge, w.contact.id) for w in found.waiting] == [
        ("w1", "hold-q", "c-w1"),
        ("w2", "hold-q", "c-w2"),
    ]
    assert [(t.channel, t.leg, t.with_agent) for t in found.talking] == [
        ("t1", "t1-agent-abcd1234", True),
        ("x1", "x1-xfer-00000000", False),
        ("alone", None, True),
    ]
    assert [(ch["id"], c.id) for ch, c in found.restart] == [("ivr", "c-ivr")]
    assert found.orphans == ["ring-agent-ffff0000", "nobody", "crowd-agent-1", "crowd-agent-2"]
    assert [(ch, c.id) for ch, c in found.stranded] == [("crowd", "c-crowd")]
    assert [c.id for c in found.gone] == ["c-gone"]
    assert found.stale_bridges == ["hold-empty", "talk-crowd-agent-1"]


def test_a_second_pass_leaves_what_this_controller_runs_alone() -> None:
    channels = [chan("w1")]
    bridges = [{"id": "hold-q", "channels": ["w1"]}]
    found = survey("hotline", channels, bridges, [contact("c1", "w1")], {"w1"}.__contains__, set())
    assert not (found.waiting or found.orphans or found.gone or found.stale_bridges)


def test_in_app_and_live_recording() -> None:
    assert in_app(chan("a"), "hotline") and not in_app(chan("a", "hotlinex,inbound"), "hotline")
    assert not in_app({"id": "a"}, "hotline")

    class E:
        def __init__(self, type: str, name: str) -> None:
            self.type, self.data = type, {"name": name}

    assert live_recording([E("recording.started", "r1")]) == "r1"
    assert live_recording([E("recording.started", "r1"), E("recording.saved", "r1")]) is None


def test_callbacks_and_what_shares_their_bridge_are_left_to_their_adapter() -> None:
    channels = [
        chan("cb", "hotline,callback,c-cb"),
        chan("cb-agent-1", "hotline,agent,c-cb"),
        chan("cb2"),  # a callback customer known by its contact
        chan("w1"),
    ]
    bridges = [
        {"id": "talk-cb-agent-1", "channels": ["cb", "cb-agent-1"]},
        {"id": "hold-q", "channels": ["cb2", "w1"]},
    ]
    found = survey(
        "hotline", channels, bridges, [contact("c-w1", "w1")], lambda ch: False, set(), ["cb2"]
    )
    assert [w.channel for w in found.waiting] == ["w1"]
    assert not (found.orphans or found.talking or found.stale_bridges or found.restart)


class FakeAri:
    app = "hotline"

    def __init__(self, channels: list[dict], bridges: list[dict]) -> None:
        self._channels, self._bridges = channels, bridges
        self.hung_up: list[str] = []
        self.deleted: list[str] = []

    async def channels(self) -> list[dict]:
        return self._channels

    async def bridges(self) -> list[dict]:
        return self._bridges

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.hung_up.append(channel_id)

    async def request(self, method: str, path: str, **kw: object) -> None:
        self.deleted.append(path)


class FakeStasis:
    def __init__(self, runtime: object, ari: FakeAri) -> None:
        self.runtime, self.ari = runtime, ari
        self.queueing = None  # no routing engine: waiting callers cannot be taken over
        self.restarted: list[str] = []
        self.contact_ids: set[str] = set()

    def owns(self, channel_id: str) -> bool:
        return False

    def restart_call(self, channel: dict) -> None:
        self.restarted.append(channel["id"])


async def test_a_pass_closes_gone_contacts_hangs_up_orphans_and_restarts_ivr_callers(
    tmp_path: Path,
) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    await store.migrate()
    try:
        gone = await store.open_contact("voice", "inbound", "5550001", "100", None, "vanished")
        ivr = await store.open_contact("voice", "inbound", "5550002", "100", None, "ivr")
        ari = FakeAri([chan("ivr"), chan("nobody")], [{"id": "hold-q", "channels": []}])
        runtime = SimpleNamespace(store=store, default_language="en")
        stasis = FakeStasis(runtime, ari)
        recovery = Recovery(stasis)  # type: ignore[arg-type]
        report = await recovery.run()
        assert (report.lost, report.orphans, report.restarted, report.first) == (1, 1, 1, True)
        assert ari.hung_up == ["nobody"] and ari.deleted == ["bridges/hold-q"]
        assert stasis.restarted == ["ivr"]
        for contact_id in (gone, ivr):
            contact = await store.contact(contact_id)
            assert contact is not None and contact.status == "lost"
            (ended,) = [e.data for e in await store.events(contact_id) if e.type == "call.ended"]
            assert ended["reason"] == "controller_restart"
        # A later pass (Asterisk restarted under us) says so.
        again = await store.open_contact("voice", "inbound", "5550003", "100", None, "gone-too")
        ari._channels, ari._bridges = [], []
        report = await recovery.run()
        assert (report.lost, report.first) == (1, False)
        (ended,) = [e.data for e in await store.events(again) if e.type == "call.ended"]
        assert ended == {"status": "lost", "reason": "asterisk_restart", "hung_up_by": "asterisk"}
        passes = [
            e
            for e in await store.events_between(T0, datetime.now(UTC))
            if e.type == "controller.recovered"
        ]
        assert len(passes) == 2
    finally:
        await store.close()


def test_a_monitoring_left_behind_is_hung_up_and_its_bridge_destroyed() -> None:
    channels = [
        chan("t1"),
        chan("t1-agent-abcd1234", "hotline,agent,c-t1"),
        chan("mon-0123456789ab-phone", "hotline,monitor"),
        chan("mon-0123456789ab-snoop-aa11bb", "hotline,monitor"),
        chan("mon-ffffffffffff-phone", "hotline,monitor"),  # this controller's own
    ]
    bridges = [
        {"id": "talk-t1", "channels": ["t1", "t1-agent-abcd1234"]},
        {
            "id": "mon-0123456789ab-bridge",
            "channels": ["mon-0123456789ab-phone", "mon-0123456789ab-snoop-aa11bb"],
        },
        {"id": "mon-ffffffffffff-bridge", "channels": ["mon-ffffffffffff-phone"]},
    ]
    found = survey(
        "hotline",
        channels,
        bridges,
        [contact("c-t1", "t1")],
        lambda ch: ch == "mon-ffffffffffff-phone",
        set(),
    )
    assert [t.channel for t in found.talking] == ["t1"]
    assert sorted(found.orphans) == ["mon-0123456789ab-phone", "mon-0123456789ab-snoop-aa11bb"]
    assert found.stale_bridges == ["mon-0123456789ab-bridge"]
