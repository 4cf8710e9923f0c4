"""The one agent ringer (ari_app/ringer.py): how each ring ends is what the routing
engine is told, for a queued call and a callback alike."""

from __future__ import annotations

from typing import Any

import pytest

from ari_app.client import AriError
from ari_app.ringer import AgentRinger, Answered
from hotline.acd import Queue, Strategy
from hotline.acd.decisions import Offer
from hotline.acd.service import Finished
from tests.unit.voice.fake_ari import (
    FakeAri,
    Followed,
    channel_event,
    log_in,
    offers,
    pending,
    routing,
)

ENDPOINTS = {"a": "1001", "b": "1002"}


class Rig:
    def __init__(self, *agents: str, queue: Queue | None = None) -> None:
        self.ari = FakeAri()
        self.routing, self.log = routing(*agents, queue=queue)
        self.agents = agents
        self.followed = Followed()
        legs = iter(range(100))
        self.ringer = AgentRinger(
            self.ari,
            self.routing,
            ENDPOINTS,
            self.followed,
            leg_name=lambda: f"caller-agent-{next(legs)}",
            args="agent,c1",
            caller_id='"Ada" <5551234>',
            originator="caller",
        )

    async def offered(self) -> list[Offer]:
        """The caller's offers once it joins the queue."""
        await log_in(self.routing, *self.agents)
        self.ticket = await self.routing.enqueue("c1", "voice", "q")
        return offers(self.ticket)

    def requeued(self) -> list[str]:
        return [data.get("reason", "") for data in self.log.of("contact.requeue")]


async def test_an_offer_rings_the_agents_phone_and_the_engine_hears_it_rings() -> None:
    rig = Rig("a")
    (offer,) = await rig.offered()
    await rig.ringer.ring(offer)
    (leg,) = rig.ari.originated()
    assert (leg.param("endpoint"), leg.param("appArgs"), leg.param("channelId")) == (
        "PJSIP/1001",
        "agent,c1",
        "caller-agent-0",
    )
    assert (leg.param("originator"), leg.param("callerId")) == ("caller", '"Ada" <5551234>')
    assert rig.followed.legs == {"caller-agent-0": True}
    assert rig.ringer.ringing() and rig.log.of("agent.ring")


@pytest.mark.parametrize(
    ("cause", "told"),
    [
        (17, "reject by a"),
        (21, "reject by a"),
        (19, "no_answer by a"),
        (18, "no_answer by a"),
        (34, "release by a"),
    ],
)
async def test_how_an_unanswered_leg_ended_is_what_the_engine_is_told(
    cause: int, told: str
) -> None:
    rig = Rig("a")
    (offer,) = await rig.offered()
    await rig.ringer.ring(offer)
    answered = await rig.ringer.on_leg_event(
        channel_event("ChannelDestroyed", "caller-agent-0", cause=cause)
    )
    assert answered is None and rig.requeued() == [told]
    assert not rig.ringer.ringing() and rig.followed.legs == {}


async def test_an_agent_who_lets_it_ring_out_is_hung_up_and_reported_no_answer() -> None:
    rig = Rig("a")
    (offer,) = await rig.offered()
    await rig.ringer.ring(offer)
    await rig.ringer.ring_out(rig.ringer.next_deadline() - 1)
    assert rig.ari.hung_up() == []  # not yet
    await rig.ringer.ring_out(rig.ringer.next_deadline())
    assert rig.ari.hung_up() == ["caller-agent-0"] and rig.requeued() == ["no_answer by a"]
    assert rig.ringer.next_deadline() == float("inf")


async def test_the_first_to_answer_gets_the_call_and_the_other_phones_stop() -> None:
    rig = Rig("a", "b", queue=Queue("q", strategy=Strategy.RING_ALL))
    ring_all = await rig.offered()
    assert sorted(o.agent for o in ring_all) == ["a", "b"]
    for offer in ring_all:
        await rig.ringer.ring(offer)
    first = ring_all[1]
    answered = await rig.ringer.on_leg_event(channel_event("StasisStart", "caller-agent-1"))
    assert answered == Answered(first, "caller-agent-1")
    assert rig.ari.hung_up() == ["caller-agent-0"] and not rig.ringer.ringing()
    assert len(rig.log.of("agent.accept")) == 1
    assert any(isinstance(item, Finished) for item in pending(rig.ticket))


async def test_an_answer_the_engine_withdrew_meanwhile_is_hung_up() -> None:
    rig = Rig("a")
    (offer,) = await rig.offered()
    await rig.ringer.ring(offer)
    await rig.routing.leave("c1", "left")  # the caller hung up as the agent answered
    answered = await rig.ringer.on_leg_event(channel_event("StasisStart", "caller-agent-0"))
    assert answered is None and rig.ari.hung_up() == ["caller-agent-0"]


async def test_a_leg_asterisk_refuses_is_a_failed_offer() -> None:
    rig = Rig("a")
    rig.ari.failures[("POST", "channels")] = AriError(500, "allocation failed")
    (offer,) = await rig.offered()
    await rig.ringer.ring(offer)
    assert rig.requeued() == ["release by a"]
    assert not rig.ringer.ringing() and rig.followed.legs == {}


async def test_an_agent_without_a_phone_is_a_failed_offer_and_nothing_rings() -> None:
    rig = Rig("c")  # no endpoint configured
    (offer,) = await rig.offered()
    await rig.ringer.ring(offer)
    assert rig.requeued() == ["release by c"] and rig.ari.originated() == []


async def test_events_of_other_channels_are_not_the_ringers() -> None:
    rig = Rig("a")
    (offer,) = await rig.offered()
    await rig.ringer.ring(offer)
    for event in (
        channel_event("StasisStart", "someone-else"),
        {"type": "PlaybackFinished", "playback": {"id": "p", "target_uri": "channel:caller"}},
    ):
        assert await rig.ringer.on_leg_event(event) is None
    assert rig.ringer.ringing() and rig.requeued() == []


class TwoPhones(dict[str, str]):
    """Agent a has a SIP phone and a browser phone registered (controller/devices.py)."""

    def ringing(self, agent: str) -> list[str]:
        return ["1001-web", "1001"] if agent == "a" else [self[agent]]


def two_phones() -> Rig:
    rig = Rig("a")
    rig.ringer.endpoints = TwoPhones(ENDPOINTS)
    return rig


async def test_an_agent_with_two_phones_has_both_rung_and_the_first_answer_takes_it() -> None:
    rig = two_phones()
    (offer,) = await rig.offered()
    await rig.ringer.ring(offer)
    web, sip = rig.ari.originated()
    assert (web.param("endpoint"), sip.param("endpoint")) == ("PJSIP/1001-web", "PJSIP/1001")
    assert len(rig.log.of("agent.ring")) == 1  # one offer, rung on two phones
    answered = await rig.ringer.on_leg_event(channel_event("StasisStart", "caller-agent-1"))
    assert answered == Answered(offer, "caller-agent-1")
    assert "caller-agent-0" in rig.ari.hung_up()  # the browser phone stops ringing
    assert not rig.ringer.ringing()


async def test_one_phone_declining_leaves_the_other_ringing() -> None:
    rig = two_phones()
    (offer,) = await rig.offered()
    await rig.ringer.ring(offer)
    await rig.ringer.on_leg_event(channel_event("ChannelDestroyed", "caller-agent-0", cause=21))
    assert rig.ringer.ringing() and not rig.log.of("agent.reject")  # the engine waits
    await rig.ringer.on_leg_event(channel_event("ChannelDestroyed", "caller-agent-1", cause=19))
    assert not rig.ringer.ringing()
    assert rig.requeued() == ["no_answer by a"]  # told once, when both have ended


async def test_two_phones_ringing_out_are_one_no_answer() -> None:
    rig = two_phones()
    (offer,) = await rig.offered()
    await rig.ringer.ring(offer)
    await rig.ringer.ring_out(rig.ringer.next_deadline())
    assert not rig.ringer.ringing()
    assert {"caller-agent-0", "caller-agent-1"} <= set(rig.ari.hung_up())
    assert len(rig.log.of("agent.no_answer")) == 1


class RefusesTheBrowserPhone(FakeAri):
    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        params = kwargs.get("params") or {}
        if path == "channels" and dict(params).get("endpoint") == "PJSIP/1001-web":
            raise AriError(400, "endpoint not found")
        return await super().request(method, path, **kwargs)


async def test_one_phone_refused_by_asterisk_the_other_rings() -> None:
    rig = two_phones()
    rig.ari = rig.ringer.ari = RefusesTheBrowserPhone()
    (offer,) = await rig.offered()
    await rig.ringer.ring(offer)
    assert list(rig.ringer.rings) == ["caller-agent-1"]
    assert rig.log.of("agent.ring") and not rig.log.of("agent.release")
