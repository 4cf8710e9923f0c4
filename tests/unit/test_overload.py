"""The overload admission (hotline/overload.py) and how a refusal sounds over ARI
(ari_app/admission.py): which limit turns a call away, what is counted, the settings'
errors, the ARI round trips' window, and the Stasis app taking or refusing new calls."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ari_app.app import StasisApp
from ari_app.client import RoundTrips
from hotline.config import HotlineConfig
from hotline.overload import Admission, Load, OverloadSettings, over_limit
from tests.unit.voice.fake_ari import FakeAri
from tests.unit.voice.fake_ari import prompts as prompt_library


def test_each_limit_turns_a_call_away_and_none_is_on_below_them() -> None:
    settings = OverloadSettings(max_calls=10, max_loop_lag_ms=200, max_ari_latency_ms=300)
    assert over_limit(settings, Load(calls=9, loop_lag_ms=199, ari_latency_ms=299)) is None
    assert over_limit(settings, Load(calls=10)) == "max_calls"
    assert over_limit(settings, Load(calls=0, loop_lag_ms=201)) == "loop_lag"
    assert over_limit(settings, Load(calls=0, ari_latency_ms=301)) == "ari_latency"
    # Several at once: the call count is named first.
    assert over_limit(settings, Load(calls=50, loop_lag_ms=900, ari_latency_ms=900)) == (
        "max_calls"
    )


def test_a_signal_set_to_none_is_off() -> None:
    settings = OverloadSettings(max_calls=None, max_loop_lag_ms=None, max_ari_latency_ms=None)
    assert over_limit(settings, Load(calls=10**6, loop_lag_ms=10**6, ari_latency_ms=10**6)) is None


def test_the_defaults_are_backstops_with_no_call_limit() -> None:
    settings = HotlineConfig.model_validate({"numbers": {"100": "main"}}).overload
    assert settings.max_calls is None
    assert settings.answer == "busy"
    assert over_limit(settings, Load(calls=5000, loop_lag_ms=100, ari_latency_ms=100)) is None
    assert over_limit(settings, Load(calls=1, loop_lag_ms=1500)) == "loop_lag"


def test_the_admission_counts_what_it_let_in_and_what_it_turned_away() -> None:
    load = Load(calls=0)
    admission = Admission(OverloadSettings(max_calls=2), lambda: load)
    assert admission.decide() is None
    load = Load(calls=2)
    assert admission.decide() == "max_calls"
    assert admission.decide() == "max_calls"
    load = Load(calls=0, loop_lag_ms=5000)
    assert admission.decide() == "loop_lag"
    assert admission.admitted == 1
    assert admission.refused_total == 3
    assert admission.view()["refused_by"] == {
        "max_calls": 2,
        "max_rate": 0,
        "loop_lag": 1,
        "ari_latency": 0,
    }


@pytest.mark.parametrize(
    ("overload", "message"),
    [
        ({"max_calls": 0}, "greater than or equal to 1"),
        ({"max_loop_lag_ms": -5}, "greater than 0"),
        ({"answer": "hangup"}, "'busy', 'congestion' or 'message'"),
        ({"message": "Not A Key!"}, "should match pattern"),
        ({"max_call": 5}, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(
    overload: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        HotlineConfig.model_validate({"numbers": {"100": "main"}, "overload": overload})
    assert "overload" in str(error.value)
    assert message in str(error.value)


def test_round_trips_percentile_over_the_recent_window_only() -> None:
    now = [0.0]
    trips = RoundTrips(window=3.0, least=5, clock=lambda: now[0])
    for _ in range(2):
        trips.observe(2.0)
    assert trips.p90_ms() == 0.0  # too few to say anything
    now[0] = 0.5
    for _ in range(20):
        trips.observe(0.010)
    trips.observe(2.0)
    now[0] = 1.0
    assert trips.p90_ms() == pytest.approx(10.0)  # 3 slow of 23: the 90th is fast
    now[0] = 3.2  # the first two slow ones are out of the window; the 21 of 0.5 s stay
    assert trips.p90_ms() == pytest.approx(10.0)
    now[0] = 10.0  # nothing recent: nothing to say
    assert trips.p90_ms() == 0.0


def test_round_trips_over_the_limit_show() -> None:
    now = [0.0]
    trips = RoundTrips(window=3.0, least=5, clock=lambda: now[0])
    for _ in range(30):
        trips.observe(1.5)
    now[0] = 1.0
    assert trips.p90_ms() == pytest.approx(1500.0)


# The Stasis app at the door (no Asterisk: FakeAri records the requests).


class Runtime:
    default_language = "en"


def stasis_app(settings: OverloadSettings, calls: int) -> tuple[StasisApp, FakeAri, list[str]]:
    ari = FakeAri()
    started: list[str] = []
    admission = Admission(settings, lambda: Load(calls=calls))
    app = StasisApp(Runtime(), ari, admission=admission)  # type: ignore[arg-type]  # no calls run
    app._start_call = lambda channel: started.append(channel["id"])  # type: ignore[method-assign]
    return app, ari, started


def stasis_start(channel: str) -> dict[str, Any]:
    return {"type": "StasisStart", "args": ["inbound"], "channel": {"id": channel}}


@pytest.mark.parametrize(("answer", "cause"), [("busy", "busy"), ("congestion", "congestion")])
async def test_a_call_over_the_limit_is_hung_up_unanswered_with_the_configured_cause(
    answer: str, cause: str
) -> None:
    settings = OverloadSettings(max_calls=3, answer=answer)  # type: ignore[arg-type]
    app, ari, started = stasis_app(settings, calls=3)
    await app.handle(stasis_start("c1"))
    await app.drain()
    assert started == []
    assert [(r.method, r.path, r.param("reason")) for r in ari.requests] == [
        ("DELETE", "channels/c1", cause)
    ]
    assert app.door is not None and app.door.admission.refused["max_calls"] == 1
    assert app.active_calls == 0


async def test_a_call_within_the_limit_is_taken_and_nothing_is_sent() -> None:
    app, ari, started = stasis_app(OverloadSettings(max_calls=3), calls=2)
    await app.handle(stasis_start("c1"))
    assert started == ["c1"]
    assert ari.requests == []
    assert app.door is not None and app.door.admission.admitted == 1


async def test_the_message_answer_answers_plays_the_prompt_and_hangs_up(tmp_path: Path) -> None:
    ari = FakeAri()

    class Runtime:
        default_language = "en"
        prompts = prompt_library(tmp_path)
        recordings = None

    settings = OverloadSettings(max_calls=1, answer="message")
    admission = Admission(settings, lambda: Load(calls=1))
    app = StasisApp(Runtime(), ari, admission=admission)  # type: ignore[arg-type]  # a stub
    await app.handle(stasis_start("c1"))
    await asyncio.sleep(0.01)
    assert [r.path for r in ari.made("POST", "channels/c1/answer")] == ["channels/c1/answer"]
    (play,) = ari.made("POST", "channels/c1/play")
    assert play.all("media") == ["sound:overloaded"]
    assert ari.hung_up() == []  # not before the prompt has been heard
    finished = {"id": play.param("playbackId"), "target_uri": "channel:c1", "state": "done"}
    await app.handle({"type": "PlaybackFinished", "playback": finished})
    await app.drain()
    assert ari.hung_up() == ["c1"]
    assert admission.refused["max_calls"] == 1 and app.active_calls == 0
