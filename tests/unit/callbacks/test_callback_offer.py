"""What a waiting caller is offered, and whose number a callback uses by default."""

from __future__ import annotations

from ari_app.callbacks import number_of
from ari_app.waiting import offer_prompts
from hotline.callbacks.settings import QueueCallback
from hotline.flows.port import Prompt


def test_the_offer_comes_once_the_wait_passes_the_threshold() -> None:
    settings = QueueCallback(key="5", offer_after=120)
    assert offer_prompts(settings, 60) == []
    assert offer_prompts(settings, None) == []  # nobody serves the queue: no estimate
    assert offer_prompts(settings, 120) == [
        Prompt(key="callback_offer"),
        Prompt(say="digits", value="5"),
    ]


def test_no_offer_without_a_threshold() -> None:
    assert offer_prompts(QueueCallback(key="5"), 10_000) == []
    assert offer_prompts(None, 10_000) == []


def test_the_callers_number_from_their_caller_id() -> None:
    assert number_of('"Ann Smith" <5551234>') == "5551234"
    assert number_of("5551234") == "5551234"
    assert number_of("") == ""
