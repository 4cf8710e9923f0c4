"""The FastAGI server over a real socket, with Asterisk's side scripted: routing,
a whole flow (prompts, barge-in, digits, hang-up), bad requests, and a caller who
hangs up. Contacts and events go to a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agi.server import FastAgiServer
from hotline.catalogue import Catalogue
from hotline.flows.loader import FlowSet, parse_flow
from hotline.flows.services import DefaultServices
from hotline.store import Store
from voice.contact import VoiceRuntime
from voice.prompts import PromptLibrary
from voice.recordings import Recordings

HOME = Path(__file__).resolve().parents[2]
FLOW = """name: probe
start: ask
nodes:
  ask:
    type: collect
    into: code
    prompt: [welcome, {say: number, value: "42"}]
    min_digits: 2
    max_digits: 2
    on: {ok: bye, invalid: bye}
  bye: {type: play, prompts: goodbye, barge_in: false, next: end}
  end: {type: hangup}
"""

Reply = Callable[[str], str]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[FastAgiServer, int, Store]]:
    store = await Store.connect(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await store.migrate()
    catalogue = Catalogue.load(HOME / "sounds/catalogue.yaml")
    runtime = VoiceRuntime(
        store=store,
        prompts=PromptLibrary(catalogue, tmp_path, tmp_path, None, "/sounds"),
        flows=FlowSet.of(parse_flow(FLOW, "probe.yaml")),
        numbers={},
        services_for=lambda contact_id: DefaultServices(),
        default_language="en",
        recordings=Recordings("/spool/recording", None),
    )
    agi = FastAgiServer(runtime, "hotline")
    await agi.start("127.0.0.1", 0)
    assert agi.server is not None
    port = agi.server.sockets[0].getsockname()[1]
    yield agi, port, store
    await agi.close()
    await store.close()


async def asterisk(port: int, script: str, reply: Reply) -> list[str]:
    """Play Asterisk: send the environment, answer each command; the commands sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_uniqueid": "1700000000.1",
        "agi_callerid": "5550123",
        "agi_extension": "200",
    }
    writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
    commands = []
    while line := await asyncio.wait_for(reader.readline(), 5):
        command = line.decode().strip()
        commands.append(command)
        answer = reply(command)
        writer.write(answer.encode() + b"\n")
        await writer.drain()
    writer.close()
    return commands


async def events_of(store: Store) -> tuple[str, list[tuple[str, dict]]]:
    (contact,) = await store.recent_contacts()
    return contact.status, [(e.type, e.data) for e in await store.events(contact.id)]


async def test_a_flow_runs_with_barge_in_and_digits(server: tuple) -> None:
    _, port, store = server
    keys = iter("7")

    def reply(command: str) -> str:
        if command.startswith("STREAM FILE") and "welcome" in command:
            return "200 result=52 endpos=4000"  # "4" cuts the welcome short
        if command.startswith("WAIT FOR DIGIT"):
            return f"200 result={ord(next(keys))}"
        return "200 result=0 endpos=100" if command != "HANGUP" else "200 result=1"

    commands = await asterisk(port, "flow/probe", reply)
    assert commands[0] == "ANSWER"
    assert commands[1] == 'SET VARIABLE "CHANNEL(language)" "en"'
    assert commands[2] == 'STREAM FILE "welcome" "0123456789*#"'
    assert commands[3] == "WAIT FOR DIGIT 3000"  # one key is in: the inter-digit timeout
    assert commands[4] == 'STREAM FILE "goodbye" ""'  # no barge-in: no escape digits
    assert commands[-1] == "HANGUP"
    status, events = await events_of(store)
    assert status == "completed"
    assert events[0] == (
        "call.arrived",
        {"caller": "5550123", "dialed": "200", "channel": "1700000000.1", "via": "agi"},
    )
    played = [d for t, d in events if t == "prompt.played"]
    assert played[0]["state"] == "interrupted" and played[1]["state"] == "done"
    inputs = [d for t, d in events if t == "flow.input"]
    assert inputs == [{"flow": "probe", "node": "ask", "digits": "47", "result": "match"}]
    assert events[-1][1] == {
        "status": "completed",
        "reason": "flow_completed",
        "hung_up_by": "hotline",
    }


async def test_caller_hangs_up_mid_prompt(server: tuple) -> None:
    _, port, store = server

    def reply(command: str) -> str:
        if command.startswith("STREAM FILE"):
            return "HANGUP\n200 result=-1 endpos=0"
        return (
            "511 Command Not Permitted on a dead channel" if command != "ANSWER" else "200 result=0"
        )

    await asterisk(port, "flow/probe", reply)
    status, events = await events_of(store)
    assert status == "abandoned"
    assert events[-1][1]["reason"] == "caller_hangup"


async def test_unknown_flow_says_no_service(server: tuple) -> None:
    _, port, store = server
    commands = await asterisk(port, "flow/nosuch", lambda c: "200 result=0 endpos=10")
    assert 'STREAM FILE "no_service" ""' in commands
    status, events = await events_of(store)
    assert status == "failed"
    assert ("call.no_flow", {"dialed": "200", "flow": "nosuch"}) in events


async def test_request_that_is_not_a_flow_is_refused(server: tuple) -> None:
    _, port, store = server
    commands = await asterisk(port, "menus/main", lambda c: "200 result=1")
    assert commands == [
        "SET VARIABLE HOTLINE_AGI_ERROR \"unknown FastAGI request 'menus/main': "
        'use agi://host:port/flow/NAME"'
    ]
    assert await store.recent_contacts() == []


async def test_not_agi_at_all(server: tuple) -> None:
    _, port, store = server
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed on us
    writer.close()
    assert await store.recent_contacts() == []


async def test_port_taken_is_a_clear_error(server: tuple) -> None:
    agi, port, _ = server
    with pytest.raises(OSError, match=f"FastAGI server cannot listen on 127.0.0.1:{port}"):
        await FastAgiServer(agi.runtime, "hotline").start("127.0.0.1", port)
