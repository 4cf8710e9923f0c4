"""Fenced event-log writes (Store.append_fenced) and the worker's offer fence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, update

from hotline.acd.decisions import Explanation, Offer
from hotline.acd.model import Channel, Contact
from hotline.cluster.offers import OfferFence, StaleOffer
from hotline.events import UnknownEventType
from hotline.store import LoggedEvent, Store
from hotline.store.epochs import EPOCHS, EVENTS, Fence, StaleEpoch


async def set_epoch(store: Store, domain: str, epoch: int) -> None:
    async with store.engine.begin() as conn:
        changed = await conn.execute(
            update(EPOCHS).where(EPOCHS.c.domain == domain).values(epoch=epoch)
        )
        if changed.rowcount == 0:
            now = datetime.now(UTC)
            row = {"domain": domain, "epoch": epoch, "leader": "test", "since": now}
            await conn.execute(insert(EPOCHS).values(**row))


async def count_events(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(EVENTS))).scalar_one())


async def test_a_write_with_the_current_epoch_is_logged_with_it(store: Store) -> None:
    await set_epoch(store, "sales", 3)
    seen: list[LoggedEvent] = []
    store.listen(seen.append)
    event_id = await store.append_fenced(
        Fence("sales", 3), None, "agent.login", {"at": 1.0}, agent="alice"
    )
    [event] = [e for e in seen if e.id == event_id]
    assert event.data == {"at": 1.0, "epoch": 3}
    assert event.agent == "alice"
    assert await count_events(store) == 1


async def test_a_write_with_a_stale_epoch_is_refused_and_nothing_is_written(store: Store) -> None:
    await set_epoch(store, "sales", 4)
    with pytest.raises(StaleEpoch) as refused:
        await store.append_fenced(Fence("sales", 3), None, "agent.login", {}, agent="alice")
    assert str(refused.value) == (
        "routing write refused: agent.login was written with epoch 3 of domain 'sales', "
        "whose epoch is now 4 (another leader took over)"
    )
    assert await count_events(store) == 0


async def test_a_stale_write_does_not_take_down_the_writes_committed_with_it(
    store: Store,
) -> None:
    await set_epoch(store, "sales", 2)
    stale = store.append_fenced(Fence("sales", 1), None, "agent.login", {}, agent="bob")
    other = store.append_soon(None, "agent.logout", {}, agent="alice")
    current = store.append_fenced(Fence("sales", 2), None, "agent.login", {}, agent="carol")
    with pytest.raises(StaleEpoch):
        await stale
    await other
    await current
    assert await count_events(store) == 2


async def test_a_domain_nobody_ever_led_refuses_writes(store: Store) -> None:
    with pytest.raises(StaleEpoch, match="domain 'nowhere' has no epoch"):
        await store.append_fenced(Fence("nowhere", 1), None, "agent.login", {}, agent="alice")
    assert await count_events(store) == 0


async def test_a_fenced_write_checks_its_arguments_as_append_does(store: Store) -> None:
    await set_epoch(store, "sales", 1)
    with pytest.raises(ValueError, match="event type must be a string"):
        await store.append_fenced(Fence("sales", 1), None, 5)  # type: ignore[arg-type]
    with pytest.raises(UnknownEventType, match=r"no\.such"):
        await store.append_fenced(Fence("sales", 1), None, "no.such")
    assert await count_events(store) == 0


def offer(epoch: int) -> Offer:
    explanation = Explanation("q", "fifo", "only", "first", "none", 1, 1, 0, "only one")
    contact = Contact("c1", Channel.VOICE, "q", 0.0)
    return Offer(contact, "alice", "q", Channel.VOICE, explanation, 15, (), epoch)


def test_a_worker_refuses_an_offer_from_an_older_epoch() -> None:
    fence = OfferFence("sales")
    assert fence.check(offer(2)).epoch == 2
    assert fence.check(offer(3)).epoch == 3
    with pytest.raises(StaleOffer) as refused:
        fence.check(offer(2))
    assert str(refused.value) == (
        "offer of c1 to alice refused: made under epoch 2 of routing domain 'sales', "
        "which is now at epoch 3"
    )
    assert fence.epoch == 3


def test_a_worker_that_heard_of_a_new_leader_refuses_the_old_ones_offers() -> None:
    fence = OfferFence("sales", epoch=1)
    fence.saw(5)
    fence.saw(4)  # an old announcement arriving late changes nothing
    with pytest.raises(StaleOffer):
        fence.check(offer(4))
    assert fence.check(offer(5)).agent == "alice"
