"""`RoutingService.enqueue(agent=...)`: a contact offered to one named agent only (a
transfer or consultation to an agent, a click-to-call)."""

from __future__ import annotations

import pytest

from hotline.acd import Outcome, RoutingError
from hotline.acd.service import Finished, Withdrawn
from tests.unit.acd.test_service import Lab, items, one_offer


@pytest.fixture
def lab() -> Lab:
    return Lab()


async def test_offered_at_once_to_the_named_agent_not_the_queue_order(lab):
    lab.queue()
    await lab.agent("a")
    await lab.agent("b")
    ticket = await lab.enqueue("c1", agent="b")
    offer = one_offer(ticket)
    assert (offer.agent, offer.contact.id) == ("b", "c1")
    assert lab.state("a") == ("available", None)  # nobody else is offered it
    await lab.svc.accepted(offer)
    assert await ticket.outcome is Outcome.ANSWERED
    assert lab.state("b")[0] == "busy"


async def test_an_agent_who_cannot_take_it_is_refused_and_nothing_logged(lab):
    lab.queue()
    await lab.agent("a")
    await lab.agent("b")
    await lab.svc.pause("b", "lunch")
    busy = one_offer(await lab.enqueue("c0", agent="a"))
    await lab.svc.accepted(busy)
    before = list(lab.log.records)
    with pytest.raises(RoutingError, match="agent b is paused on voice"):
        await lab.enqueue("c1", agent="b")
    with pytest.raises(RoutingError, match="agent a is busy"):
        await lab.enqueue("c2", agent="a")
    with pytest.raises(RoutingError, match="no agent 'zed'"):
        await lab.enqueue("c3", agent="zed")
    assert lab.log.records == before
    assert lab.svc.ticket("c1") is None and lab.svc.position("c2") is None


@pytest.mark.parametrize("how", ["rejected", "no_answer", "failed", "ring timeout"])
async def test_unanswered_it_leaves_instead_of_going_to_someone_else(lab, how):
    lab.queue(ring_timeout=15)
    await lab.agent("a")
    await lab.agent("b")
    ticket = await lab.enqueue("c1", agent="b")
    offer = one_offer(ticket)
    if how == "ring timeout":
        await lab.advance(16)
    elif how == "failed":
        await lab.svc.failed(offer, "no phone")
    else:
        await getattr(lab.svc, how)(offer)
    assert await ticket.outcome is Outcome.TIMEOUT
    got = items(ticket)
    assert got[-1] == Finished(Outcome.TIMEOUT)
    assert not [i for i in got if not isinstance(i, (Withdrawn, Finished))]
    assert lab.state("a") == ("available", None)
    assert lab.svc.ticket("c1") is None
    assert lab.log.find("contact.leave", contact="c1")
