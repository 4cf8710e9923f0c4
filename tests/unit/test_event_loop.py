"""controller/event_loop.py: which loop `hotline run` runs on, and a bad choice refused."""

from __future__ import annotations

import asyncio
import sys
import warnings

import pytest

from controller.event_loop import VARIABLE, EventLoopError, loop_factory, run


async def loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_uvloop_by_default_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    assert loop_factory()[0] == "uvloop"
    assert run(loop_type()) == "uvloop"


def test_the_environment_or_the_caller_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, " AsyncIO ")
    assert loop_factory()[0] == "asyncio"
    assert run(loop_type()) == "asyncio"
    assert run(loop_type(), "uvloop") == "uvloop"  # the argument wins
    monkeypatch.setenv(VARIABLE, "")
    assert loop_factory()[0] == "uvloop"


def test_a_bad_choice_is_refused_and_nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "tokio")
    with pytest.raises(EventLoopError) as raised:
        loop_factory()
    assert str(raised.value) == (
        "HOTLINE_EVENT_LOOP='tokio': expected one of uvloop, asyncio (or unset)"
    )
    ran = []

    async def main() -> None:
        ran.append(True)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        with pytest.raises(EventLoopError):
            run(main())
    assert ran == []


def test_uvloop_asked_for_but_missing_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # its import fails
    with pytest.raises(EventLoopError, match="uvloop is not installed"):
        loop_factory("uvloop")
    assert loop_factory()[0] == "asyncio"  # not asked for: the standard loop
