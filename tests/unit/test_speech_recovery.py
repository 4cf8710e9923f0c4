"""A controller that died while callers answered by voice leaves their speech helpers
in Asterisk (ari_app/speech.py: the `speech-<caller>` bridge, the `<caller>-snoop` and
`<caller>-media` channels): recovery recognises and removes them, before the caller's
flow restarts and makes them anew under the same names."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from ari_app.recovery import Recovery, speech_leftovers, survey
from ari_app.speech import bridge_owner, helper_owner
from hotline.store import Store, sqlite_url
from tests.unit.test_recovery_survey import FakeAri, FakeStasis, chan, contact


def snoop(caller: str) -> dict:
    return {**chan(f"{caller}-snoop", "hotline,speech"), "name": f"Snoop/{caller}-00000001"}


def media(caller: str) -> dict:
    return {**chan(f"{caller}-media", "hotline"), "name": "UnicastRTP/127.0.0.1:14000-0x7f01"}


def speech_bridge(caller: str, *members: str) -> dict:
    return {"id": f"speech-{caller}", "channels": list(members)}


def test_helpers_are_known_by_id_and_technology() -> None:
    assert helper_owner(snoop("1700.5")) == "1700.5"
    assert helper_owner(media("1700.5")) == "1700.5"
    # The name alone or the technology alone is not enough.
    assert helper_owner({**chan("1700.5-media"), "name": "PJSIP/caller-0001"}) is None
    assert helper_owner({**chan("1700.5"), "name": "Snoop/1700.5-0001"}) is None
    assert helper_owner({"id": "-snoop", "name": "Snoop/x"}) is None
    assert bridge_owner(speech_bridge("1700.5")) == "1700.5"
    assert bridge_owner({"id": "speech-"}) is None
    assert bridge_owner({"id": "speechless"}) is None
    assert bridge_owner({"id": "hold-q"}) is None


def test_leftovers_of_dead_calls_go_and_those_of_live_calls_stay() -> None:
    channels = [chan("ivr"), snoop("ivr"), media("ivr"), chan("mine"), snoop("mine")]
    channels += [media("mine"), media("hung-up")]
    bridges = [
        speech_bridge("ivr", "ivr-snoop", "ivr-media"),
        speech_bridge("mine", "mine-snoop", "mine-media"),
        speech_bridge("hung-up", "hung-up-media"),
        {"id": "hold-q", "channels": []},
    ]
    hang_up, destroy, helpers = speech_leftovers(channels, bridges, {"mine"}.__contains__)
    assert hang_up == ["ivr-snoop", "ivr-media", "hung-up-media"]
    assert destroy == ["speech-ivr", "speech-hung-up"]
    assert helpers == {"ivr-snoop", "ivr-media", "mine-snoop", "mine-media", "hung-up-media"}


def test_a_caller_mid_question_restarts_and_its_helpers_are_removed() -> None:
    channels = [chan("ivr"), snoop("ivr"), media("ivr"), chan("w1"), snoop("w1"), media("w1")]
    channels += [chan("mine"), snoop("mine"), media("mine")]
    bridges = [
        speech_bridge("ivr", "ivr-snoop", "ivr-media"),
        # Waiting in a queue within seconds of a spoken menu: its helpers are still up.
        {"id": "hold-q", "channels": ["w1"]},
        speech_bridge("w1", "w1-snoop", "w1-media"),
        speech_bridge("mine", "mine-snoop", "mine-media"),
    ]
    contacts = [contact("c-ivr", "ivr"), contact("c-w1", "w1"), contact("c-mine", "mine")]
    found = survey("hotline", channels, bridges, contacts, {"mine"}.__contains__, set())
    assert [(ch["id"], c.id) for ch, c in found.restart] == [("ivr", "c-ivr")]
    assert [(w.channel, w.bridge) for w in found.waiting] == [("w1", "hold-q")]
    assert found.orphans == ["ivr-snoop", "ivr-media", "w1-snoop", "w1-media"]
    assert found.stale_bridges == ["speech-ivr", "speech-w1"]
    assert not (found.stranded or found.gone or found.talking)


def test_a_second_pass_leaves_a_live_calls_helpers_alone() -> None:
    channels = [chan("mine"), snoop("mine"), media("mine")]
    bridges = [speech_bridge("mine", "mine-snoop", "mine-media")]
    found = survey(
        "hotline", channels, bridges, [contact("c1", "mine")], {"mine"}.__contains__, set()
    )
    assert not (found.orphans or found.stale_bridges or found.restart)


class OrderedStasis(FakeStasis):
    """Records hang-ups, bridge deletions and restarts in one sequence."""

    def __init__(self, runtime: object, ari: FakeAri, order: list[str]) -> None:
        super().__init__(runtime, ari)
        self.order = order

    def restart_call(self, channel: dict) -> None:
        self.order.append(f"restart {channel['id']}")


class OrderedAri(FakeAri):
    def __init__(self, channels: list[dict], bridges: list[dict], order: list[str]) -> None:
        super().__init__(channels, bridges)
        self.order = order

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.order.append(f"hangup {channel_id}")

    async def request(self, method: str, path: str, **kw: object) -> None:
        self.order.append(f"{method} {path}")


async def test_a_pass_removes_the_helpers_before_the_flow_restarts(tmp_path: Path) -> None:
    store = await Store.connect(sqlite_url(str(tmp_path / "h.db")))
    await store.migrate()
    try:
        ivr = await store.open_contact("voice", "inbound", "5550002", "100", None, "ivr")
        order: list[str] = []
        ari = OrderedAri(
            [chan("ivr"), snoop("ivr"), media("ivr")],
            [speech_bridge("ivr", "ivr-snoop", "ivr-media")],
            order,
        )
        runtime = SimpleNamespace(store=store, default_language="en")
        report = await Recovery(OrderedStasis(runtime, ari, order)).run()  # type: ignore[arg-type]
        assert order == [
            "hangup ivr-snoop",
            "hangup ivr-media",
            "DELETE bridges/speech-ivr",
            "restart ivr",
        ]
        assert (report.restarted, report.orphans, report.lost) == (1, 2, 0)
        old = await store.contact(ivr)
        assert old is not None and old.status == "lost"  # the caller restarts as new
    finally:
        await store.close()
