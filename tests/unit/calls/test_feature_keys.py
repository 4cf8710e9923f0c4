"""hotline/calls/keys.py: the agent's feature codes while talking."""

from __future__ import annotations

import pytest

from hotline.calls import BadCommand, Command, Target
from hotline.calls.keys import FeatureKeys


def press(keys: FeatureKeys, digits: str, *, held: bool = False) -> list[Command | None]:
    return [keys.press(d, held=held) for d in digits]


def test_star_one_holds_and_resumes() -> None:
    keys = FeatureKeys()
    assert press(keys, "*1") == [None, Command("hold")]
    assert press(keys, "*1", held=True) == [None, Command("resume")]
    assert keys.pending == ""


def test_star_two_transfers_to_the_number_typed() -> None:
    keys = FeatureKeys()
    *before, last = press(keys, "*25551234#")
    assert before == [None] * 9
    assert last == Command("transfer", Target("number", "5551234"))
    assert keys.pending == ""


def test_other_keys_are_not_codes() -> None:
    keys = FeatureKeys()
    assert press(keys, "123#") == [None] * 4  # keys for the caller's ears
    assert press(keys, "*9") == [None, None] and keys.pending == ""
    assert press(keys, "*3*1") == [None, None, None, Command("hold")]  # a new * restarts


def test_a_transfer_without_a_number_is_refused() -> None:
    keys = FeatureKeys()
    press(keys, "*2")
    with pytest.raises(BadCommand, match="is not a phone number"):
        keys.press("#", held=False)
    assert keys.pending == ""


def test_a_number_too_long_is_dropped() -> None:
    keys = FeatureKeys()
    assert press(keys, "*2" + "5" * 21 + "#") == [None] * 24
    assert keys.pending == ""
