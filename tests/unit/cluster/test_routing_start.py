"""`hotline routing` started while the database does not answer: one line, exit 4."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from controller import routing_node
from controller.stop_requests import StopRequests
from hotline.store import StoreUnavailable
from tests.unit.cluster.test_routing_node import CONFIG


def test_no_database_at_the_start_is_said_and_exits_4_to_be_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hotline.yaml"
    path.write_text(CONFIG)
    why = (
        "connect: database unavailable, gave up after 10 attempts in 10 s: "
        "[Errno 111] Connect call failed ('127.0.0.1', 5432)"
    )

    async def unreachable(*_args: Any, **_kwargs: Any) -> int:
        raise StoreUnavailable(why)

    monkeypatch.setattr(routing_node, "run_routing_node", unreachable)
    args = argparse.Namespace(
        config=str(path),
        database="postgresql+asyncpg://postgres@127.0.0.1:5432/hotline",
        no_bus=True,
        nats=None,
        domain="d",
        lease=2.0,
        retry=0.5,
        name="n",
        stop=StopRequests(),  # what `hotline` gives each command (none asked here)
    )
    assert routing_node.cmd_routing(args) == routing_node.EXIT_LOST == 4
    assert capsys.readouterr().err == f"hotline routing: {why}; to be started again\n"
