"""The overload admission's rate limit (hotline/overload.py `max_rate`): new calls let
in per second at most, a burst after a quiet spell, and how it combines with the other
limits. A fake clock: milliseconds."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from hotline.config import HotlineConfig
from hotline.overload import Admission, Load, OverloadSettings


def admission(clock: list[float], load: Load | None = None, **settings: Any) -> Admission:
    return Admission(
        OverloadSettings(**settings), lambda: load or Load(calls=0), clock=lambda: clock[0]
    )


def test_calls_beyond_the_rate_are_turned_away_and_counted() -> None:
    clock = [100.0]
    door = admission(clock, max_rate=10)  # burst: one second's worth, 10
    assert [door.decide() for _ in range(12)] == [None] * 10 + ["max_rate"] * 2
    clock[0] += 0.25  # 2.5 tokens back: two calls
    assert [door.decide() for _ in range(3)] == [None, None, "max_rate"]
    assert door.admitted == 12
    assert door.refused["max_rate"] == 3
    assert door.view()["refused_by"]["max_rate"] == 3  # type: ignore[index]
    assert door.view()["max_rate"] == 10


def test_a_steady_offered_rate_above_the_limit_lets_in_the_limit() -> None:
    clock = [0.0]
    door = admission(clock, max_rate=32, max_burst=8)
    let_in = 0
    for _ in range(128 * 10):  # 128 calls a second for 10 s
        clock[0] += 1 / 128
        let_in += door.decide() is None
    assert 8 + 32 * 10 - 2 <= let_in <= 8 + 32 * 10  # the burst, then 32 a second


def test_the_burst_is_kept_at_most_after_a_quiet_spell() -> None:
    clock = [0.0]
    door = admission(clock, max_rate=5, max_burst=3)
    clock[0] += 3600.0
    assert [door.decide() for _ in range(4)] == [None, None, None, "max_rate"]


def test_a_call_another_limit_turns_away_takes_no_token() -> None:
    clock = [0.0]
    load = Load(calls=10)
    door = admission(clock, load, max_calls=10, max_rate=2, max_burst=2)
    assert door.decide() == "max_calls"  # named first, and no token taken
    assert door.decide() == "max_calls"
    door.measure = lambda: Load(calls=0)
    assert [door.decide() for _ in range(3)] == [None, None, "max_rate"]
    door.measure = lambda: Load(calls=0, loop_lag_ms=5000)
    clock[0] += 10.0
    assert door.decide() == "loop_lag"
    door.measure = lambda: Load(calls=0)
    assert [door.decide() for _ in range(3)] == [None, None, "max_rate"]


def test_off_by_default() -> None:
    settings = HotlineConfig.model_validate({"numbers": {"100": "main"}}).overload
    assert settings.max_rate is None
    clock = [0.0]
    door = Admission(settings, lambda: Load(calls=0), clock=lambda: clock[0])
    assert all(door.decide() is None for _ in range(10_000))


@pytest.mark.parametrize(
    ("overload", "message"),
    [
        ({"max_rate": 0}, "greater than 0"),
        ({"max_rate": "fast"}, "valid number"),
        ({"max_burst": 0}, "greater than or equal to 1"),
        ({"max_burst": 2.5}, "valid integer"),
    ],
)
def test_bad_rate_settings_are_refused_with_the_field_named(
    overload: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        HotlineConfig.model_validate({"numbers": {"100": "main"}, "overload": overload})
    assert "overload" in str(error.value)
    assert message in str(error.value)
