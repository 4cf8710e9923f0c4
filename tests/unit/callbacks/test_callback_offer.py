"""What a waiting caller hears of the waiting experience (hotline/waiting.py), and whose
number a callback uses by default."""

from __future__ import annotations

from ari_app.waiting import prompts_of
from hotline.flows.port import Prompt
from hotline.waiting import CallbackOffer, EstimatedWait, Message, Position, wait_minutes
from voice.caller_id import number_of


def test_the_offer_says_the_queues_key() -> None:
    assert prompts_of(CallbackOffer("5")) == [
        Prompt(key="callback_offer"),
        Prompt(say="digits", value="5"),
    ]


def test_position_wait_and_messages_as_prompts() -> None:
    assert prompts_of(Position(3)) == [
        Prompt(key="queue_position"),
        Prompt(say="number", value="3"),
    ]
    assert prompts_of(Message("queue_thanks")) == [Prompt(key="queue_thanks")]


def test_a_caller_hears_the_minutes_a_chat_reads() -> None:
    # 70 s: rounded to the nearest minute it would be 1; everyone is told 2.
    assert prompts_of(EstimatedWait(wait_minutes(70))) == [
        Prompt(key="queue_eta"),
        Prompt(say="number", value="2"),
        Prompt(key="queue_minutes"),
    ]


def test_the_callers_number_from_their_caller_id() -> None:
    assert number_of('"Ann Smith" <5551234>') == "5551234"
    assert number_of("5551234") == "5551234"
    assert number_of("") == ""
