"""The routing engine against the Erlang C model: simulated days through the Router.

The fast version of bench/bench_staffing.py. One day's service level scatters around
Erlang C's steady-state prediction by about 3 points (sd over seeds: queues are strongly
correlated in time), so a fast test cannot compare one day's figure within 2 points
without picking a lucky seed. Instead it checks the engine against the model's queue
contact by contact: on the same arrivals and handle times, every wait the engine gives
equals the wait of an ideal M/M/N first-come-first-served queue, whose service level
is what Erlang C predicts. The bench pools 60 full days through the engine and compares
their service level with the prediction (within 2 points).
"""

from __future__ import annotations

import pytest

from hotline.staffing.erlang import asa, service_level
from hotline.staffing.simulation import DayPlan, fcfs_waits, simulate_day, simulate_days

# 200 calls an hour, 180 s handle time: 10 Erlangs; Erlang C for 80/20: 14 agents, 88.8 %
PLAN = DayPlan(rate=200, hours=8, aht=180, target=0.80, threshold=20, seed=7)


def test_sized_by_erlang_c() -> None:
    assert PLAN.agents == 14
    assert simulate_day(PLAN).predicted_sl == pytest.approx(0.8884, abs=5e-5)


@pytest.mark.parametrize("agents", [14, 12, 11])
def test_engine_waits_equal_the_model_queue(agents: int) -> None:
    day = simulate_day(PLAN, agents=agents)
    assert day.answered == day.contacts == len(day.arrivals) > 1400
    model = fcfs_waits(day.arrivals, day.handles, agents)
    # the engine answers in arrival order (0 overtakes), so its waits line up one to one
    assert day.waits == pytest.approx(model, abs=1e-6)
    assert day.capacity_violations == 0
    assert day.overtakes == 0
    assert day.idle_while_waiting == 0
    assert sum(w > 0 for w in day.waits) > 0  # the day did queue


def test_understaffed_day_falls_short() -> None:
    # 12 agents: Erlang C predicts 64.0 % and a longer ASA than with 14
    day = simulate_day(PLAN, agents=12)
    assert day.predicted_sl == pytest.approx(service_level(12, 10.0, 180, 20))
    assert day.measured_sl < 0.80
    assert day.asa > asa(14, 10.0, 180)


def test_a_wrong_engine_is_caught() -> None:
    # The check can fail: the model queue with one agent fewer gives other waits.
    day = simulate_day(PLAN)
    assert day.waits != pytest.approx(fcfs_waits(day.arrivals, day.handles, 13), abs=1e-6)


def test_days_pooled() -> None:
    two = simulate_days(PLAN, days=2)
    first = simulate_day(PLAN)
    assert two.contacts > first.contacts
    assert two.within / two.answered == two.measured_sl
    assert two.overtakes == two.capacity_violations == 0


def test_no_days_refused() -> None:
    with pytest.raises(ValueError, match="days must be at least 1"):
        simulate_days(PLAN, days=0)
