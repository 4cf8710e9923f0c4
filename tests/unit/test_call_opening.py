"""ari_app/call.py: an answered caller whose contact is slow to be written (the database
unreachable) hears music on hold meanwhile, not silence; a quick one hears nothing extra."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ari_app import call
from ari_app.call import CallSession
from ari_app.client import AriError


class FakeAri:
    def __init__(self, fail: bool = False) -> None:
        self.requests: list[tuple[str, str]] = []
        self.fail = fail

    async def request(self, method: str, path: str, **_: Any) -> None:
        self.requests.append((method, path))
        if self.fail:
            raise AriError(404, "Channel not found")


class FakeContact:
    caller = "5550100"

    def __init__(self, takes: float) -> None:
        self.takes = takes

    async def open(self) -> str:
        await asyncio.sleep(self.takes)
        return "c-1"


def session(takes: float, ari: FakeAri) -> CallSession:
    made = object.__new__(CallSession)  # only what _open_contact uses
    made.contact = FakeContact(takes)  # type: ignore[assignment]
    made.ari = ari  # type: ignore[assignment]
    made.channel_id = "ch-1"
    return made


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call, "QUIET", 0.05)


async def test_a_quick_opening_plays_nothing() -> None:
    ari = FakeAri()
    assert await session(0.0, ari)._open_contact() == "c-1"
    assert ari.requests == []


async def test_a_slow_opening_plays_music_until_the_contact_is_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ari = FakeAri()
    assert await session(0.2, ari)._open_contact() == "c-1"
    assert ari.requests == [("POST", "channels/ch-1/moh"), ("DELETE", "channels/ch-1/moh")]
    assert "call from '5550100': its contact is not written after 0.05 s" in caplog.text


async def test_a_caller_gone_meanwhile_does_not_stop_the_opening() -> None:
    ari = FakeAri(fail=True)  # ARI 404: the channel is gone
    assert await session(0.2, ari)._open_contact() == "c-1"
    assert [m for m, _ in ari.requests] == ["POST", "DELETE"]


async def test_cancelled_while_opening_the_write_is_cancelled_too() -> None:
    ari = FakeAri()
    made = session(5.0, ari)
    task = asyncio.create_task(made._open_contact())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ari.requests[0] == ("POST", "channels/ch-1/moh")
    assert [t for t in asyncio.all_tasks() if "FakeContact.open" in repr(t)] == []
