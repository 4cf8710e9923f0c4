"""A voice port's inbox (ari_app/voice_port.py `next_event`): events in order, a timeout
when none comes, an expired deadline before a waiting event, the caller's end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from ari_app.voice_port import VoicePort
from hotline.flows.port import CallerGone
from tests.unit.voice.fake_ari import FakeAri, prompts
from voice.recordings import Recordings


def port(tmp_path: Path) -> VoicePort:
    async def emit(kind: str, data: dict[str, Any]) -> None:
        pass

    return VoicePort(FakeAri(), "ch", prompts(tmp_path), emit, recordings=Recordings("/r", None))


def key(digit: str) -> dict[str, Any]:
    return {"type": "ChannelDtmfReceived", "channel": {"id": "ch"}, "digit": digit}


async def test_waiting_events_are_taken_in_order_without_a_timed_wait(tmp_path: Path) -> None:
    p = port(tmp_path)
    for digit in "123":
        p.deliver(key(digit))
    with mock.patch("asyncio.wait_for", side_effect=AssertionError("a timed wait")):
        got = [await p.next_event(5.0), await p.next_event(None), await p.next_event(0.5)]
    assert [e["digit"] for e in got if e is not None] == ["1", "2", "3"]
    assert p.inbox.empty()


async def test_an_event_that_comes_later_is_waited_for_and_none_times_out(
    tmp_path: Path,
) -> None:
    p = port(tmp_path)
    asyncio.get_running_loop().call_later(0.01, p.deliver, key("7"))
    event = await p.next_event(1.0)
    assert event is not None and event["digit"] == "7"
    assert await p.next_event(0.01) is None
    asyncio.get_running_loop().call_later(0.01, p.deliver, key("8"))
    event = await p.next_event(None)
    assert event is not None and event["digit"] == "8"


async def test_a_deadline_already_passed_goes_before_a_waiting_event(tmp_path: Path) -> None:
    p = port(tmp_path)
    p.deliver(key("5"))
    assert await p.next_event(0) is None  # the deadline first, as asyncio.wait_for(0) does
    event = await p.next_event(1.0)
    assert event is not None and event["digit"] == "5"


async def test_the_callers_end_in_the_inbox_raises_caller_gone(tmp_path: Path) -> None:
    p = port(tmp_path)
    p.deliver({"type": "StasisEnd", "channel": {"id": "ch"}})
    p.deliver(key("1"))
    with pytest.raises(CallerGone):
        await p.next_event(5.0)
    assert p.gone
    with pytest.raises(CallerGone):  # and from then on, whatever is left
        await p.next_event(5.0)
