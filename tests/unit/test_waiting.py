"""The waiting experience's rules (hotline/waiting.py): one rounding, one schedule, one
callback offer rule for every channel."""

from __future__ import annotations

from typing import Any

import pytest

from hotline.acd.settings import QueueSettings
from hotline.callbacks.settings import QueueCallback
from hotline.waiting import (
    CALLBACK_OFFER_CHECK,
    INF,
    CallbackOffer,
    EstimatedWait,
    Message,
    Position,
    WaitingExperience,
    abandoned_policy,
    announced,
    callback_offered,
    wait_minutes,
)


def queue(**settings: Any) -> QueueSettings:
    return QueueSettings.model_validate(settings)


@pytest.mark.parametrize(
    ("eta", "minutes"),
    [(1, 1), (59, 1), (60, 1), (61, 2), (89, 2), (90, 2), (91, 2), (150, 3), (600, 10)],
)
def test_the_wait_is_rounded_up_to_whole_minutes_at_least_one(eta: float, minutes: int) -> None:
    assert wait_minutes(eta) == minutes


def test_the_callback_offer_compares_the_estimated_wait_with_offer_after() -> None:
    settings = QueueCallback(key="5", offer_after=120)
    assert not callback_offered(settings, None)
    assert not callback_offered(settings, 119.9)
    assert callback_offered(settings, 120)
    assert not callback_offered(QueueCallback(key="5"), 10_000)  # offer_after 0: never
    assert not callback_offered(None, 10_000)


def test_position_and_wait_on_arrival_then_every_interval() -> None:
    wait = WaitingExperience(
        queue(announcements={"position_every": 30, "eta_every": 60}), started=0, callbacks=True
    )
    assert wait.next_at() == 0
    assert wait.due(0, position=3, eta=150) == [Position(3), EstimatedWait(3)]
    assert wait.next_at() == 30
    assert wait.due(30, position=2, eta=100) == [Position(2)]
    assert wait.due(60, position=1, eta=50) == [Position(1), EstimatedWait(1)]


def test_no_wait_without_a_position_and_nothing_before_it_is_due() -> None:
    wait = WaitingExperience(
        queue(announcements={"position_every": 30, "eta_every": 30}), started=0, callbacks=True
    )
    assert wait.due(0, position=None, eta=120) == []
    assert wait.due(10, position=2, eta=120) == []
    assert wait.due(30, position=2, eta=None) == [Position(2)]


def test_periodic_messages_in_turn_after_their_interval() -> None:
    wait = WaitingExperience(
        queue(announcements={"periodic": ["a", "b"], "periodic_every": 20}),
        started=100,
        callbacks=False,
    )
    assert wait.next_at() == 120
    assert wait.due(100, position=1, eta=60) == []
    told = [wait.due(t, position=1, eta=60) for t in (120, 140, 160)]
    assert told == [[Message("a")], [Message("b")], [Message("a")]]


def test_the_callback_offer_is_made_once_when_the_estimate_passes_offer_after() -> None:
    wait = WaitingExperience(
        queue(callback={"key": "5", "offer_after": 120}), started=0, callbacks=True
    )
    assert wait.due(0, position=2, eta=60) == []
    assert wait.next_at() == CALLBACK_OFFER_CHECK
    assert wait.due(5, position=2, eta=130) == [CallbackOffer("5")]
    assert wait.callback_offered and wait.next_at() == INF


def test_no_offer_without_a_callback_service_or_after_the_customer_asked() -> None:
    settings = queue(callback={"key": "5", "offer_after": 60})
    assert WaitingExperience(settings, started=0, callbacks=False).due(0, position=1, eta=999) == []
    wait = WaitingExperience(settings, started=0, callbacks=True)
    wait.callback_asked()
    assert wait.due(0, position=1, eta=999) == [] and wait.next_at() == INF


def test_a_queue_with_nothing_to_say_says_nothing_ever() -> None:
    assert WaitingExperience(queue(), started=0, callbacks=True).next_at() == INF


def test_abandoned_policy_is_the_queues() -> None:
    assert not abandoned_policy(queue())
    assert not abandoned_policy(queue(callback={"key": "5"}))
    assert abandoned_policy(queue(callback={"abandoned": {"action": "callback"}}))


def test_what_was_told_is_logged_in_one_shape() -> None:
    told = [Position(2), EstimatedWait(3), Message("queue_thanks"), CallbackOffer("5")]
    assert announced(told) == {
        "position": 2,
        "eta_minutes": 3,
        "periodic": "queue_thanks",
        "callback_offer": True,
    }
    assert announced([Message("x")]) == {"periodic": "x"}
