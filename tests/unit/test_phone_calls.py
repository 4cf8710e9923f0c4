"""Ending the calls a browser phone left (controller/phone_calls.py), against a stand-in
for ARI's endpoints and channels: the legs of that moment are hung up after the grace,
those a BYE ended meanwhile are not counted, those made after the close are left."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ari_app.client import AriError, AriNotFound
from controller.phone_calls import BrowserPhoneCalls


class FakeAri:
    """ARI's `GET endpoints/PJSIP/<name>` and `DELETE channels/<id>` over a dict."""

    def __init__(self, channels: dict[str, list[str]]) -> None:
        self.channels = channels  # endpoint -> channel ids
        self.hung_up: list[tuple[str, str]] = []
        self.broken: set[str] = set()

    async def request(self, method: str, path: str) -> Any:
        assert method == "GET"
        name = path.removeprefix("endpoints/PJSIP/")
        if name not in self.channels:
            raise AriNotFound(404, "Endpoint not found")
        return {"technology": "PJSIP", "resource": name, "channel_ids": list(self.channels[name])}

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        if channel_id in self.broken:
            raise AriError(500, "Internal Server Error")
        for ids in self.channels.values():
            if channel_id in ids:
                ids.remove(channel_id)
                self.hung_up.append((channel_id, reason))
                return
        raise AriNotFound(404, "Channel not found")


async def test_the_legs_left_are_hung_up_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    ari = FakeAri({"1001-web": ["c1"], "1001": ["sip-phone-call"]})
    calls = BrowserPhoneCalls(ari, {"alice": "1001"}, grace=0.01)
    assert await calls.ended("alice") == ["c1"]
    assert ari.hung_up == [("c1", "normal")]
    assert ari.channels["1001"] == ["sip-phone-call"]  # her SIP phone's call is not touched
    assert "browser phone of alice: its page went away with a call" in caplog.text


async def test_nothing_left_nothing_done() -> None:
    ari = FakeAri({"1001-web": []})
    calls = BrowserPhoneCalls(ari, {"alice": "1001"}, grace=10)
    # No call: returns at once, without waiting the grace.
    assert await asyncio.wait_for(calls.ended("alice"), 1) == []
    assert await calls.ended("bob") == []  # not an agent with a phone here
    assert await BrowserPhoneCalls(FakeAri({}), {"alice": "1001"}).ended("alice") == []


async def test_a_bye_during_the_grace_and_a_new_call_after_the_close() -> None:
    ari = FakeAri({"1001-web": ["old", "bye-on-its-way"]})
    calls = BrowserPhoneCalls(ari, {"alice": "1001"}, grace=0.05)
    ending = asyncio.create_task(calls.ended("alice"))
    await asyncio.sleep(0.01)
    ari.channels["1001-web"].remove("bye-on-its-way")  # its BYE arrived
    ari.channels["1001-web"].append("rings-the-reloaded-page")  # registered again, rung
    assert await ending == ["old"]
    assert ari.channels["1001-web"] == ["rings-the-reloaded-page"]


async def test_a_hangup_ari_refuses_is_logged_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ari = FakeAri({"1001-web": ["stuck", "c2"]})
    ari.broken.add("stuck")
    calls = BrowserPhoneCalls(ari, {"alice": "1001"}, grace=0.01)
    assert await calls.ended("alice") == ["c2"]
    assert "browser phone of alice: could not hang up stuck" in caplog.text


async def test_nothing_is_hung_up_while_hotline_stops() -> None:
    """Every relay closes when Hotline stops; the calls go on (a restarted controller
    takes them over), even one whose grace was running when the stop began."""
    stopping = False
    ari = FakeAri({"1001-web": ["talking"]})
    calls = BrowserPhoneCalls(ari, {"alice": "1001"}, grace=0.05, stopping=lambda: stopping)
    ending = asyncio.create_task(calls.ended("alice"))
    await asyncio.sleep(0.01)
    stopping = True
    assert await ending == []
    assert await calls.ended("alice") == []
    assert ari.hung_up == [] and ari.channels["1001-web"] == ["talking"]
