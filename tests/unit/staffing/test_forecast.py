"""The forecast by weekday and interval, worked out by hand, and its staffing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hotline.staffing.forecast import PastInterval, forecast, staff

MON = date(2026, 11, 2)  # a Monday


def test_mean_of_the_same_weekday_and_slot() -> None:
    history = [
        # two Mondays: 09:00 had 10 and 20 contacts (AHT 100 s over 10, 200 s over 20)
        PastInterval(MON, "09:00", 10, 10, 100.0),
        PastInterval(MON + timedelta(weeks=1), "09:00", 20, 20, 200.0),
        # 10:00 only on the second Monday: the first counts as 0 -> mean 3
        PastInterval(MON + timedelta(weeks=1), "10:00", 6, 0, None),
        # a Tuesday: not used for Mondays
        PastInterval(MON + timedelta(days=1), "09:00", 99, 99, 999.0),
    ]
    next_monday = MON + timedelta(weeks=2)
    rows = forecast(history, [next_monday])
    assert [(r.slot, r.contacts, r.weeks) for r in rows] == [("09:00", 15.0, 2), ("10:00", 3.0, 2)]
    # 09:00: (10*100 + 20*200) / 30 = 166.7; 10:00 has no answered contact: the Monday's
    # handle time, 166.7 too
    assert [r.aht for r in rows] == [166.7, 166.7]
    tuesday = forecast(history, [next_monday + timedelta(days=1)])
    assert [(r.slot, r.contacts, r.aht) for r in tuesday] == [("09:00", 99.0, 999.0)]


def test_default_handle_time_and_unknown_weekday() -> None:
    history = [PastInterval(MON, "09:00", 4, 0, None)]
    assert forecast(history, [MON + timedelta(weeks=1)], default_aht=240)[0].aht == 240
    assert forecast(history, [MON + timedelta(days=2)]) == []  # no Wednesday in the history


def test_staffing_by_erlang_c_with_shrinkage() -> None:
    # 100 contacts in a half hour of 180 s: the Call Centre Helper example, 14 -> 20
    history = [PastInterval(MON, "09:00", 100, 100, 180.0)]
    [need] = staff(forecast(history, [MON + timedelta(weeks=1)]), 1800, 0.8, 20, 0.3)
    assert (need.agents, need.scheduled) == (14, 20)
    assert need.service_level == pytest.approx(0.8884, abs=5e-5)
