"""`hotline web`'s loops on fakes: desks told the leader's presence when it changes, and
an agent with a desk here said reachable again when the leader holds them unreachable
(their desk on another process closed)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import yaml

from controller.cli import main
from controller.stop_requests import StopRequests
from controller.web_node import follow_presence, web_problem
from hotline.acd.model import AgentState, Channel
from hotline.acd.states import ChannelStatus
from hotline.config import HotlineConfig
from hotline.web.desk import Desks
from tests.e2e.ports import free_port
from tests.nats import NatsServer, nats_server

__all__ = ["nats_server"]


class FakeRouting:
    def __init__(self) -> None:
        self.chat = ChannelStatus(AgentState.PAUSED, 0, "unreachable", 0.0)
        self.said: list[tuple[str, Channel, bool]] = []

    def agent_status(self, agent: str) -> dict[Channel, ChannelStatus]:
        return {Channel.CHAT: self.chat}

    async def reachable(self, agent: str, channel: Channel, yes: bool) -> None:
        self.said.append((agent, channel, yes))
        self.chat = ChannelStatus(AgentState.AVAILABLE, 0, None, 0.0)


class FakeDesks:
    def __init__(self) -> None:
        self.routing = FakeRouting()
        self.sockets: dict[str, set[Any]] = {"alice": {object()}}
        self.pushed: list[dict[str, Any]] = []

    def presence(self, agent: str) -> dict[str, Any]:
        return {"type": "presence", "chat": str(self.routing.chat.state)}

    def push(self, agent: str, frame: dict[str, Any]) -> None:
        self.pushed.append(frame)


async def test_presence_followed_and_reachability_said_again() -> None:
    desks = FakeDesks()
    task = asyncio.create_task(follow_presence(cast(Desks, desks), every=0.01))
    try:
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(desks.pushed) >= 2:
                break
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert desks.routing.said == [("alice", Channel.CHAT, True)]  # once, not every tick
    assert [f["chat"] for f in desks.pushed] == ["paused", "available"]  # each change once


def test_a_web_process_needs_postgresql() -> None:
    sqlite = cast(HotlineConfig, SimpleNamespace(database_url=None))
    assert "needs database_url on PostgreSQL" in (web_problem(sqlite) or "")
    pg = cast(HotlineConfig, SimpleNamespace(database_url="postgresql+asyncpg://h@db/h"))
    assert web_problem(pg) is None


def test_haproxy_without_a_web_tier_section_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_STATE", str(tmp_path))
    config = Path(__file__).resolve().parents[2] / "config" / "hotline.yaml"  # no web_tier:
    assert main(["--config", str(config), "haproxy", "config", "--out", str(tmp_path)]) == 2
    assert "no web_tier: section in the config" in capsys.readouterr().err
    assert not (tmp_path / "haproxy.cfg").exists()


def test_a_stop_signal_while_it_starts_is_taken_once_its_loop_runs(
    tmp_path: Path,
    pg_url: str,
    nats_server: NatsServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    stop_requests: StopRequests,
) -> None:
    """Ctrl-C while `hotline web` loads its config and flows (pydantic's validators,
    where a KeyboardInterrupt can be lost) stays a request: the process starts, then
    stops at once and cleanly (0), not an exception wherever it came."""
    import controller.cli

    monkeypatch.setenv("HOTLINE_STATE", str(tmp_path))
    base = Path(__file__).resolve().parents[2] / "config" / "hotline.yaml"
    text = yaml.safe_load(base.read_text())
    text["database_url"] = pg_url
    text["routing"] = {**(text.get("routing") or {}), "nats_url": nats_server.url}
    path = tmp_path / "hotline.yaml"  # the flows it names are the checkout's
    path.write_text(yaml.safe_dump(text))
    load = controller.cli.load_all

    def load_then_ctrl_c(*args: object) -> object:
        os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode
        return load(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(controller.cli, "load_all", load_then_ctrl_c)
    caplog.set_level(logging.INFO)
    port = str(free_port())
    assert main(["--config", str(path), "web", "--port", port], stop_requests) == 0
    assert stop_requests.requested()
    assert "no routing leader heard yet" in caplog.text  # it did start
