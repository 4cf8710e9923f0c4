"""The ARI event filter: Asterisk is told, each time the app's WebSocket opens, to send
only the event types the controller acts on; an Asterisk that refuses it still serves
every event; and no handler in ari_app/ or voice/ reads a type the filter leaves out."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ari_app.client import CONNECTED, AriClient, AriEvent
from ari_app.events import WANTED_EVENTS

HOME = Path(__file__).resolve().parents[3]
#: A quoted name shaped like an ARI event type ("ChannelDtmfReceived", "StasisStart"...).
EVENT_NAME = re.compile(
    r'"((?:Stasis|Channel|Bridge|Playback|Recording|Dial|Endpoint|Application|Device|Peer|'
    r'Text)[A-Za-z]*)"'
)
#: Such names that are no event type: the dialplan application `Stasis`.
NOT_EVENTS = {"Stasis"}
#: AMI, not ARI: its events come over the manager connection, untouched by the filter.
NOT_ARI = {"ari_app/ami.py"}


def event_names_read(root: Path) -> dict[str, set[str]]:
    """Each ARI event type named in ari_app/ and voice/, with the files naming it."""
    names: dict[str, set[str]] = {}
    for folder in ("ari_app", "voice"):
        for path in sorted((root / folder).glob("*.py")):
            where = path.relative_to(root).as_posix()
            if where in NOT_ARI:
                continue
            for name in EVENT_NAME.findall(path.read_text()):
                if name not in NOT_EVENTS:
                    names.setdefault(name, set()).add(where)
    return names


def test_every_event_type_a_handler_reads_is_let_through() -> None:
    names = event_names_read(HOME)
    assert {"StasisStart", "ChannelDtmfReceived", "PlaybackFinished"} <= set(names)
    missing = {name: sorted(files) for name, files in names.items() if name not in WANTED_EVENTS}
    assert not missing, f"read by the app but filtered out by Asterisk: {missing}"


def test_the_guard_sees_a_handler_of_a_new_type(tmp_path: Path) -> None:
    (tmp_path / "ari_app").mkdir()
    (tmp_path / "voice").mkdir()
    (tmp_path / "ari_app/new.py").write_text('if event["type"] == "ChannelTalkingStarted": pass\n')
    (tmp_path / "ari_app/ami.py").write_text('register("PeerStatus")\n')
    (tmp_path / "voice/x.py").write_text('exec("Stasis")\n')
    assert event_names_read(tmp_path) == {"ChannelTalkingStarted": {"ari_app/new.py"}}


class FakeAri:
    """An ARI server on loopback: the events WebSocket sends one event once the filter
    request has been answered (or at once when none comes); the filter answers `status`."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.filters: list[Any] = []
        self.filtered = asyncio.Event()
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self, expect_filter: bool) -> None:
        async def event_filter(request: web.Request) -> web.Response:
            assert request.match_info["app"] == "hotline"
            self.filters.append(await request.json())
            self.filtered.set()
            if self.status >= 400:
                return web.json_response({"message": "Invalid filter"}, status=self.status)
            return web.json_response({"name": "hotline"})

        async def events(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            if expect_filter:
                await asyncio.wait_for(self.filtered.wait(), 5)
            await ws.send_json({"type": "StasisStart", "channel": {"id": "c1"}, "args": []})
            await ws.close()
            return ws

        app = web.Application()
        app.router.add_put("/ari/applications/{app}/eventFilter", event_filter)
        app.router.add_get("/ari/events", events)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # bound

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def read_events(ari: AriClient) -> list[AriEvent]:
    seen: list[AriEvent] = []

    async def read() -> None:
        async for event in ari.events():
            seen.append(event)

    with pytest.raises(Exception, match="closed"):
        await asyncio.wait_for(read(), 5)
    return seen


@pytest.fixture
async def fake_ari() -> AsyncIterator[Callable[[int, bool], Any]]:
    servers: list[FakeAri] = []

    async def start(status: int, expect_filter: bool) -> FakeAri:
        server = FakeAri(status)
        servers.append(server)
        await server.start(expect_filter)
        return server

    yield start
    for server in servers:
        await server.stop()


async def test_the_filter_is_set_when_the_app_connects(fake_ari: Any) -> None:
    server = await fake_ari(200, True)
    ari = AriClient(
        f"http://127.0.0.1:{server.port}", "u", "p", "hotline", event_types=WANTED_EVENTS
    )
    try:
        seen = await read_events(ari)
    finally:
        await ari.close()
    assert server.filters == [{"allowed": [{"type": kind} for kind in sorted(WANTED_EVENTS)]}]
    assert [e["type"] for e in seen] == [CONNECTED, "StasisStart"]


async def test_a_refused_filter_leaves_every_event_coming(
    fake_ari: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = await fake_ari(400, True)
    ari = AriClient(f"http://127.0.0.1:{server.port}", "u", "p", "hotline", event_types={"X"})
    try:
        with caplog.at_level(logging.WARNING, logger="ari_app.client"):
            seen = await read_events(ari)
    finally:
        await ari.close()
    assert server.filters == [{"allowed": [{"type": "X"}]}]
    assert [e["type"] for e in seen] == [CONNECTED, "StasisStart"]
    assert "ARI refused the event filter (ARI 400: Invalid filter): the app gets every event" in (
        caplog.text
    )


async def test_no_filter_asked_without_event_types(fake_ari: Any) -> None:
    server = await fake_ari(200, False)
    ari = AriClient(f"http://127.0.0.1:{server.port}", "u", "p", "hotline")
    try:
        seen = await read_events(ari)
    finally:
        await ari.close()
    assert server.filters == []
    assert [e["type"] for e in seen] == [CONNECTED, "StasisStart"]
