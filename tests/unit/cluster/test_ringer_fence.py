"""Where a call's offers are acted on (ari_app/ringer.py): an offer from an older
routing epoch rings nobody and is not reported; one from the current epoch rings."""

from __future__ import annotations

import logging

import pytest

from ari_app.ringer import AgentRinger
from hotline.cluster.offers import OfferFence
from tests.unit.voice.fake_ari import FakeAri, Followed, log_in, offers, routing


def ringer(ari: FakeAri, routing_service: object, fence: OfferFence) -> AgentRinger:
    legs = iter(range(100))
    return AgentRinger(
        ari,
        routing_service,  # type: ignore[arg-type]
        {"a": "1001"},
        Followed(),
        leg_name=lambda: f"caller-agent-{next(legs)}",
        args="agent,c1",
        caller_id='"Ada" <5551234>',
        originator="caller",
        fence=fence,
    )


async def test_an_offer_from_an_older_epoch_rings_nobody(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ari = FakeAri()
    service, logged = routing("a")
    service._router.epoch = 2  # a deposed leader's router
    await log_in(service, "a")
    (offer,) = offers(await service.enqueue("c1", "voice", "q"))
    assert offer.epoch == 2
    fence = OfferFence("sales", epoch=3)
    with caplog.at_level(logging.WARNING, "ari_app.ringer"):
        await ringer(ari, service, fence).ring(offer)
    assert ari.originated() == []
    assert not logged.of("agent.ring")
    assert "made under epoch 2 of routing domain 'sales', which is now at epoch 3" in caplog.text


async def test_an_offer_from_the_current_epoch_rings() -> None:
    ari = FakeAri()
    service, logged = routing("a")
    service._router.epoch = 4  # the leader that took over from epoch 3's
    await log_in(service, "a")
    (offer,) = offers(await service.enqueue("c1", "voice", "q"))
    fence = OfferFence("sales", epoch=3)
    await ringer(ari, service, fence).ring(offer)
    assert len(ari.originated()) == 1
    assert logged.of("agent.ring")
    assert fence.epoch == 4
