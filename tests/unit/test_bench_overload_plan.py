"""The load bench's overload step (bench/bench_sipp_load.py `overload_plan`): its limits
sized from the last clean step with headroom, as an operator sizes them."""

from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any

from bench.bench_sipp_load import overload_plan


def args(**given: Any) -> argparse.Namespace:
    defaults = {
        "no_overload": False,
        "overload_rate": None,
        "max_calls": None,
        "max_rate": None,
        "headroom": 0.8,
    }
    return argparse.Namespace(**{**defaults, **given})


def step(rate: float, clean: bool, length: float = 6.5) -> Any:
    verdicts = [SimpleNamespace(call_seconds=length) for _ in range(3)]
    return SimpleNamespace(rate=rate, clean=clean, verdicts=verdicts)


def test_limits_are_80_percent_of_the_last_clean_step() -> None:
    steps = [step(16, True), step(32, True), step(48, True), step(64, True, 6.74)]
    plan = overload_plan(args(overload_rate=128), steps)
    # 64 cps x 6.74 s = 431 calls in progress at the edge: 80 % of it, and of 64 cps.
    assert plan == (128.0, {"max_calls": 345, "max_rate": 51.2})


def test_without_a_rate_the_step_is_twice_the_first_rate_not_clean() -> None:
    plan = overload_plan(args(headroom=0.5), [step(16, True), step(32, False)])
    assert plan == (64.0, {"max_calls": 52, "max_rate": 8.0})


def test_limits_given_on_the_command_line_are_kept_as_given() -> None:
    plan = overload_plan(args(overload_rate=128, max_calls=300), [step(64, True)])
    assert plan == (128.0, {"max_calls": 300})


def test_no_step_when_every_rate_was_clean_or_none_asked() -> None:
    assert overload_plan(args(), [step(16, True), step(32, True)]) is None
    assert overload_plan(args(no_overload=True, overload_rate=128), [step(16, True)]) is None
