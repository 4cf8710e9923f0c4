"""The routing service's parts on their own: the outbox, the ticket book, the ticker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hotline.acd import Channel, Contact, JoinResult, Offer, Outcome, Removed
from hotline.acd.decisions import Explanation
from hotline.acd.outbox import LazyLog, LogRecord, Outbox
from hotline.acd.ticker import Ticker
from hotline.acd.ticket_book import TicketBook
from hotline.acd.tickets import Finished, Ticket, Withdrawn


def record(type: str) -> LogRecord:
    return LogRecord(type=type, data={}, contact_id=None, queue=None, agent=None)


class Log:
    def __init__(self) -> None:
        self.types: list[str] = []
        self.fail = False

    async def __call__(self, **record: Any) -> None:
        if self.fail:
            raise OSError("disk full")
        self.types.append(record["type"])


async def test_outbox_acts_only_once_the_records_before_are_logged() -> None:
    log = Log()
    outbox = Outbox(log)
    seen: list[list[str]] = []
    outbox.record(record("a"))
    outbox.then(lambda: seen.append(list(log.types)))
    outbox.record(record("b"))
    await outbox.commit()
    assert log.types == ["a", "b"]
    assert seen == [["a", "b"]]


async def test_outbox_keeps_an_unlogged_change_first_in_line() -> None:
    log = Log()
    outbox = Outbox(log)
    acted: list[str] = []
    log.fail = True
    outbox.record(record("first"))
    outbox.then(lambda: acted.append("first"))
    with pytest.raises(OSError):
        await outbox.commit()
    assert acted == []
    log.fail = False
    outbox.record(record("second"))
    outbox.then(lambda: acted.append("second"))
    await outbox.commit()
    assert log.types == ["first", "second"]
    assert acted == ["first", "second"]


class SoonLog:
    """A log like Store.append_soon: a future per record, bad arguments raise at once."""

    def __init__(self) -> None:
        self.types: list[str] = []
        self.refuse: str | None = None

    def __call__(self, **record: Any) -> asyncio.Future[None]:
        if record["type"] == self.refuse:
            raise ValueError(f"event type {self.refuse!r} is not in the event catalogue")
        self.types.append(record["type"])
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(done.set_result, None)
        return done


async def test_outbox_takes_a_log_that_gives_futures_and_raises_at_once() -> None:
    log = SoonLog()
    outbox = Outbox(log)
    acted: list[str] = []
    log.refuse = "bad"
    outbox.record(record("ok"))
    outbox.record(record("bad"))
    outbox.then(lambda: acted.append("first"))
    with pytest.raises(ValueError, match="not in the event catalogue"):
        await outbox.commit()
    assert acted == []  # nothing acted on while a record before it is not logged
    log.refuse = None
    outbox.record(record("second"))
    outbox.then(lambda: acted.append("second"))
    await outbox.commit()
    # Only the unlogged record was logged again, first, then the next change.
    assert log.types == ["ok", "bad", "second"]
    assert acted == ["first", "second"]


def offer(contact: Contact, agent: str) -> Offer:
    explanation = Explanation("q", "linear", "", "", "", 1, 1, 0, "")
    return Offer(contact, agent, "q", contact.channel, explanation, 15.0)


async def test_ticket_book_hands_items_over_through_then_and_ends_with_finished() -> None:
    actions: list[Any] = []
    book = TicketBook(actions.append)
    contact = Contact("c1", Channel.VOICE, "q", 0.0)
    ticket = Ticket(contact, JoinResult(Outcome.JOINED, 1, 0.0))
    book.open(ticket)
    first, second = offer(contact, "a"), offer(contact, "b")
    book.offered(first)
    book.offered(second)
    book.withdraw("c1", "a", "ring timeout")
    book.withdraw("c1", "a", "ring timeout")  # no longer live: nothing more
    assert ticket.offers.empty()  # nothing reaches the ticket before it is logged
    book.removed(Removed(contact, Outcome.LEFT, ("b",)))
    for action in actions:
        action()
    items = [ticket.offers.get_nowait() for _ in range(ticket.offers.qsize())]
    assert items == [
        first,
        second,
        Withdrawn(first, "ring timeout"),
        Withdrawn(second, "contact left"),
        Finished(Outcome.LEFT),
    ]
    assert "c1" not in book and not book.is_live(second)


async def test_ticket_book_forgets_a_contact_whose_join_was_not_logged() -> None:
    book = TicketBook(lambda action: None)
    contact = Contact("c1", Channel.CHAT, "q", 0.0)
    book.open(Ticket(contact, JoinResult(Outcome.JOINED, 1, 0.0)))
    book.offered(offer(contact, "a"))
    assert book.drop("c1")
    assert book.offer("c1", "a") is None
    assert not book.drop("c1")


async def test_ticker_refuses_a_non_positive_interval_and_ticks_until_stopped() -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(ValueError, match="tick_interval"):
        Ticker(nothing, 0)
    ticks = asyncio.Event()

    async def tick() -> None:
        ticks.set()

    ticker = Ticker(tick, 0.001)
    ticker.start()
    ticker.start()  # idempotent
    await asyncio.wait_for(ticks.wait(), 1)
    await ticker.stop()
    assert not ticker.running


class HeldLog:
    """A lazy log like Store.append_soon(lazy=True): each record waits in line until
    `hurry` (a write somebody awaits) commits it."""

    def __init__(self, committed: list[str]) -> None:
        self.committed = committed
        self.held: list[tuple[str, asyncio.Future[None]]] = []
        self.hurried = 0
        self.fail = False

    def __call__(self, **record: Any) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.held.append((record["type"], done))
        return done

    def hurry(self) -> None:
        self.hurried += 1
        held, self.held = self.held, []
        for type, done in held:
            if self.fail:
                done.set_exception(OSError("disk full"))
            else:
                self.committed.append(type)
                done.set_result(None)


async def test_outbox_does_not_wait_for_a_lazy_change_and_hurries_it_for_the_next() -> None:
    log = Log()
    held = HeldLog(log.types)
    outbox = Outbox(log, LazyLog(held, held.hurry))
    outbox.record(record("agent.ring"))
    assert outbox.commit(lazy=True) is None  # nothing to act on: nobody waits
    await asyncio.sleep(0)
    assert [type for type, _ in held.held] == ["agent.ring"] and log.types == []
    acted: list[list[str]] = []
    outbox.record(record("agent.accept"))
    outbox.then(lambda: acted.append(list(log.types)))
    done = outbox.commit(lazy=True)  # an action follows: logged and waited for
    assert done is not None and held.hurried == 1
    await done
    assert log.types == ["agent.ring", "agent.accept"]
    assert acted == [["agent.ring", "agent.accept"]]


async def test_outbox_without_a_lazy_log_waits_for_every_change() -> None:
    log = Log()
    outbox = Outbox(log)
    outbox.record(record("agent.ring"))
    done = outbox.commit(lazy=True)
    assert done is not None
    await done
    assert log.types == ["agent.ring"]


async def test_outbox_logs_a_lazy_change_again_first_when_its_commit_failed() -> None:
    log = Log()
    held = HeldLog(log.types)
    outbox = Outbox(log, LazyLog(held, held.hurry))
    outbox.record(record("agent.ring"))
    assert outbox.commit(lazy=True) is None
    await asyncio.sleep(0)
    held.fail = True
    await outbox.flush()  # hurries what is held: its commit fails, nobody to tell
    assert log.types == [] and held.hurried == 1
    acted: list[str] = []
    outbox.record(record("agent.accept"))
    outbox.then(lambda: acted.append("accept"))
    done = outbox.commit()
    assert done is not None
    await done
    # The failed record was logged again, first (through the awaited log), then acted.
    assert log.types == ["agent.ring", "agent.accept"] and acted == ["accept"]
