"""Monitoring modes: the request body's validation and the clock of each mode."""

from __future__ import annotations

import pytest

from hotline.calls import BadCommand
from hotline.calls.monitor import ModeClock, MonitorState, parse_mode


@pytest.mark.parametrize("mode", ["listen", "whisper", "barge"])
def test_each_mode_is_taken(mode: str) -> None:
    assert parse_mode({"mode": mode}) == mode


def test_no_body_or_no_mode_is_listen() -> None:
    assert parse_mode(None) == "listen"
    assert parse_mode({}) == "listen"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (["listen"], 'the body must be a JSON object like {"mode": "listen"}'),
        ("listen", "the body must be a JSON object"),
        ({"mode": "spy"}, "\"mode\" must be one of listen, whisper, barge; got 'spy'"),
        ({"mode": None}, "got None"),
        ({"mode": "listen", "phone": "2001"}, "unknown field(s) 'phone'; only \"mode\""),
    ],
)
def test_bad_bodies_are_refused_with_the_reason(body: object, says: str) -> None:
    with pytest.raises(BadCommand) as refused:
        parse_mode(body)
    assert says in str(refused.value)
    assert refused.value.status == 400


def test_the_clock_counts_connected_seconds_per_mode() -> None:
    clock = ModeClock("listen")
    clock.switch("whisper", 5.0)  # while ringing: nothing counted
    assert clock.seconds == {} and clock.mode == "whisper"
    clock.connect(10.0)
    clock.switch("barge", 13.0)
    clock.switch("listen", 20.0)
    clock.stop(21.5)
    clock.stop(30.0)  # stopped twice: counted once
    assert clock.rounded() == {"whisper": 3.0, "barge": 7.0, "listen": 1.5}
    assert clock.total == 11.5


def test_the_state_as_json() -> None:
    state = MonitorState("c1", "sue", "carol", "whisper", "connected", 4.2)
    assert state.to_json() == {
        "contact_id": "c1",
        "supervisor": "sue",
        "agent": "carol",
        "mode": "whisper",
        "state": "connected",
        "seconds": 4.2,
    }
