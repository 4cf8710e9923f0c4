"""Erlang C golden tests against published tables and worked examples."""

from __future__ import annotations

import math

import pytest

from hotline.staffing.erlang import agents_needed, asa, erlang_b, erlang_c, service_level


@pytest.mark.parametrize(
    ("agents", "traffic", "blocking"),
    # Erlang B tables (grade of service for N lines at A Erlangs)
    [(1, 1.0, 0.5), (5, 2.0, 0.0367), (10, 5.0, 0.0184)],
)
def test_erlang_b_table(agents: int, traffic: float, blocking: float) -> None:
    assert erlang_b(agents, traffic) == pytest.approx(blocking, abs=5e-5)


def test_erlang_c_closed_forms() -> None:
    # M/M/1: the chance to wait is the utilisation; M/M/2 at 1 Erlang: 1/3
    assert erlang_c(1, 0.5) == pytest.approx(0.5)
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("agents", "wait", "sl", "asa_s"),
    # Call Centre Helper's worked example: 100 calls in 30 minutes, 180 s handle time
    # (10 Erlangs), 80 % in 20 s: P(wait) 0.6821 with 11 agents ... 14 agents needed
    [
        (11, 0.6821, 0.3896, 122.8),
        (12, 0.4494, 0.6402, 40.4),
        (13, 0.2853, 0.7956, 17.1),
        (14, 0.1741, 0.8884, 7.8),
    ],
)
def test_call_centre_helper_example(agents: int, wait: float, sl: float, asa_s: float) -> None:
    assert erlang_c(agents, 10.0) == pytest.approx(wait, abs=5e-5)
    assert service_level(agents, 10.0, 180, 20) == pytest.approx(sl, abs=5e-5)
    assert asa(agents, 10.0, 180) == pytest.approx(asa_s, abs=0.05)


def test_call_centre_helper_agents_with_shrinkage() -> None:
    need = agents_needed(100, 1800, 180, 0.80, 20, shrinkage=0.30)
    assert need.traffic == 10.0
    assert need.agents == 14
    assert need.scheduled == 20  # 14 / 0.7
    assert need.occupancy == pytest.approx(10 / 14)


def test_westbay_example() -> None:
    # 360 calls per half hour, 4 minutes each (48 Erlangs), 55 agents, 15 s target:
    # P(wait) 0.2387, ASA 8.2 s, 84.6 % within 15 s
    assert erlang_c(55, 48.0) == pytest.approx(0.2387, abs=5e-5)
    assert asa(55, 48.0, 240) == pytest.approx(8.18, abs=0.01)
    assert service_level(55, 48.0, 240, 15) == pytest.approx(0.8459, abs=5e-5)


def test_overloaded_and_empty() -> None:
    assert erlang_c(10, 10.0) == 1.0
    assert service_level(9, 10.0, 180, 20) == 0.0
    assert math.isinf(asa(10, 10.0, 180))
    none = agents_needed(0, 900, 180, 0.8, 20)
    assert (none.agents, none.scheduled, none.service_level) == (0, 0, 1.0)


def test_exact_shrinkage_does_not_round_up() -> None:
    # 14 / (1 - 0.3) is 20 in exact arithmetic: not 21 from float error
    assert agents_needed(100, 1800, 180, 0.8, 20, 0.3).scheduled == 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"contacts": -1}, "contacts must not be negative, got -1"),
        ({"interval": 0}, "interval and average handle time must be positive"),
        ({"aht": 0}, "interval and average handle time must be positive"),
        ({"target": 80}, "a fraction between 0 and 1, got 80"),
        ({"target": 1.0}, "a fraction between 0 and 1, got 1.0"),
        ({"threshold": -5}, "threshold must not be negative, got -5"),
        ({"shrinkage": 1.0}, "shrinkage is a fraction from 0 up to \\(not\\) 1, got 1.0"),
    ],
)
def test_bad_input(kwargs: dict[str, float], message: str) -> None:
    args = {"contacts": 100, "interval": 1800, "aht": 180, "target": 0.8, "threshold": 20}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        agents_needed(**args)  # type: ignore[arg-type]
