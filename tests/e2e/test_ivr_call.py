"""A SIPp caller walks ivr_flows/main.yaml on a real Asterisk; the event log tells the story.

Each test dials from its own caller number, then reads that contact's events back
from the store: which prompts played (and whether a key cut them short), which branch
the flow took, how the call ended. The `no_leaks` fixture then checks that Asterisk
holds no channel or bridge.

The module runs a Hotline of its own whose prompts are short tones
(tests/e2e/short_prompts.py): the tests check which prompts played, not what they
say. The greeting lasts 2 s (a caller hangs up during it) and the main menu 3 s (a
key cuts it short); callers press keys once the flow is at the menu (Gate steps).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from hotline.store import Contact, LoggedEvent, Store
from tests.e2e.conftest import RunningHotline
from tests.e2e.short_prompts import hotline_with_short_prompts
from tests.e2e.sipp import ExpectHangup, Gate, HangUp, Keys, SippCall, Step, Wait

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

#: The greeting has no barge-in; keys pressed after it reach the language menu
#: (other modules' callers, with the spoken prompts, wait this long).
AFTER_GREETING = 2.5
#: Prompts a caller hangs up during or cuts short, and how long they last here.
LONGER = {"welcome": 2.0, "main_menu": 3.0}
#: A key's RFC 2833 packets go on ~0.25 s after it is taken: a key pressed as soon as
#: the flow moved on waits for them to end (two keys' packets at once are garbled: a
#: key seen twice cut the next prompt short).
KEY_TAIL = 0.5


@pytest.fixture(scope="module")
def hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHotline]:
    """This module's Hotline: the session's flows, queues and agents, short prompts."""
    with hotline_with_short_prompts(tmp_path_factory, "ivr", LONGER) as running:
        yield running


def call(
    hotline: RunningHotline,
    caller: str,
    steps: list[Step],
    dial: str = "100",
    at_nodes: tuple[str, ...] = (),
) -> None:
    """One SIPp caller; its Gate steps open, in order, once the flow has entered each
    of `at_nodes` (or, for "prompt:<key>", has played that prompt), read from the
    contact's events, not after a guessed pause."""
    sipp = SippCall(hotline.workdir / "sipp", hotline.sip_port, dial, caller, steps).start()
    waiting = list(at_nodes)
    deadline = time.monotonic() + 60
    assert sipp.proc is not None
    while waiting and time.monotonic() < deadline and sipp.proc.poll() is None:
        if reached(live_events(hotline, caller), waiting[0]):
            sipp.open_gate()
            waiting.pop(0)
        time.sleep(0.1)
    result = sipp.wait()
    assert result.ok, f"SIPp call failed:\n{result.output}\n--- hotline log\n{hotline.log_tail()}"
    assert not waiting, f"the flow never reached {waiting}"


def live_events(hotline: RunningHotline, caller: str) -> list[LoggedEvent]:
    """The events so far of the newest contact from `caller`, ended or not."""

    async def read() -> list[LoggedEvent]:
        store = await Store.connect(hotline.database_url)
        try:
            for contact in await store.recent_contacts(50):
                if contact.source == caller:
                    return await store.events(contact.id)
            return []
        finally:
            await store.close()

    return asyncio.run(read())


def contact_of(hotline: RunningHotline, caller: str) -> tuple[Contact, list[LoggedEvent]]:
    """The caller's (ended) contact and its events, read from the real store."""

    async def read() -> tuple[Contact | None, list[LoggedEvent]]:
        store = await Store.connect(hotline.database_url)
        try:
            for contact in await store.recent_contacts(500):
                if contact.source == caller:
                    return contact, await store.events(contact.id)
            return None, []
        finally:
            await store.close()

    deadline = time.monotonic() + 10
    while True:
        contact, events = asyncio.run(read())
        if contact is not None and contact.ended_at is not None:
            return contact, events
        if time.monotonic() > deadline:
            raise AssertionError(f"no ended contact from {caller}:\n{hotline.log_tail()}")
        time.sleep(0.1)


def of_type(events: list[LoggedEvent], kind: str) -> list[dict]:
    return [e.data for e in events if e.type == kind]


def prompts(events: list[LoggedEvent]) -> list[tuple[str, str]]:
    """(prompt key, playback state) in the order they were played."""
    return [(key, p["state"]) for p in of_type(events, "prompt.played") for key in p["prompts"]]


def reached(events: list[LoggedEvent], where: str) -> bool:
    """The flow has entered node `where`, or played prompt <key> for "prompt:<key>"."""
    if where.startswith("prompt:"):
        return where.removeprefix("prompt:") in [key for key, _ in prompts(events)]
    return where in nodes(events)


def nodes(events: list[LoggedEvent]) -> list[str]:
    return [n["node"] for n in of_type(events, "flow.node")]


def inputs(events: list[LoggedEvent]) -> list[tuple[str, str]]:
    return [(i["digits"], i["result"]) for i in of_type(events, "flow.input")]


def ended(events: list[LoggedEvent]) -> dict:
    (last,) = of_type(events, "call.ended")
    return last


def test_english_then_opening_hours(hotline: RunningHotline) -> None:
    call(
        hotline,
        "5550001",
        [Gate(), Keys("1"), Gate(), Wait(KEY_TAIL), Keys("1"), ExpectHangup(40)],
        at_nodes=("language_menu", "main_menu"),
    )
    contact, events = contact_of(hotline, "5550001")

    assert [e.type for e in events[:3]] == ["call.arrived", "call.answered", "flow.started"]
    assert nodes(events) == [
        "greeting", "language_menu", "set_en", "main_menu", "hours_info", "goodbye", "end",
    ]  # fmt: skip
    assert inputs(events) == [("1", "match"), ("1", "match")]
    played = prompts(events)
    assert played[0] == ("welcome", "done")
    assert ("opening_hours", "done") in played
    assert played[-1] == ("goodbye", "done")
    # Both menus were cut short by the key (barge-in), not played to the end.
    assert ("main_menu", "interrupted") in played
    media = [m for p in of_type(events, "prompt.played") for m in p["media"]]
    assert all("/en/" in m for m in media if "lang_russian" not in m)
    assert of_type(events, "flow.ended") == [
        {"flow": "main", "outcome": "completed", "node": "end", "depth": 0}
    ]
    assert ended(events) == {
        "status": "completed", "reason": "flow_completed", "hung_up_by": "hotline",
    }  # fmt: skip
    assert contact.status == "completed"
    assert contact.flow == "main" and contact.flow_version
    assert contact.language == "en"
    assert contact.destination == "100"


def test_russian_menu_is_spoken_in_russian(hotline: RunningHotline) -> None:
    call(
        hotline,
        "5550002",
        [Gate(), Keys("2"), Gate(), Wait(KEY_TAIL), Keys("1"), ExpectHangup(40)],
        at_nodes=("language_menu", "main_menu"),
    )
    contact, events = contact_of(hotline, "5550002")

    assert nodes(events)[:4] == ["greeting", "language_menu", "set_ru", "main_menu"]
    assert of_type(events, "flow.language") == [{"flow": "main", "language": "ru"}]
    after_choice = of_type(events, "prompt.played")[2:]
    assert after_choice and all(p["language"] == "ru" for p in after_choice)
    assert all("/ru/" in m for p in after_choice for m in p["media"])
    assert contact.language == "ru"


def test_invalid_key_then_valid(hotline: RunningHotline) -> None:
    steps: list[Step] = [Gate(), Keys("1"), Gate(), Wait(KEY_TAIL), Keys("7"), Wait(1.0)]
    call(
        hotline,
        "5550003",
        [*steps, Keys("1"), ExpectHangup(40)],
        at_nodes=("language_menu", "main_menu"),
    )
    contact, events = contact_of(hotline, "5550003")

    assert inputs(events) == [("1", "match"), ("7", "invalid"), ("1", "match")]
    assert "invalid_option" in [key for key, _ in prompts(events)]
    assert nodes(events)[-3:] == ["hours_info", "goodbye", "end"]
    assert contact.status == "completed"


def test_timeout_then_valid(hotline: RunningHotline) -> None:
    # No key at the main menu: its prompt plays out, then 5 s of silence; the caller
    # presses 1 once told they pressed nothing (the no_input prompt has played).
    steps: list[Step] = [Gate(), Keys("1"), Gate(), Keys("1")]
    at = ("language_menu", "prompt:no_input")
    call(hotline, "5550004", [*steps, ExpectHangup(40)], at_nodes=at)
    contact, events = contact_of(hotline, "5550004")

    assert inputs(events) == [("1", "match"), ("", "timeout"), ("1", "match")]
    played = [key for key, _ in prompts(events)]
    assert played.index("no_input") > played.index("main_menu")
    assert nodes(events)[-3:] == ["hours_info", "goodbye", "end"]
    assert contact.status == "completed"


def test_retries_exhausted_says_goodbye(hotline: RunningHotline) -> None:
    # The third wrong key ends the menu: Hotline says goodbye and hangs up at once.
    wrong: list[Step] = [Keys("7"), Wait(1.0), Keys("7"), Wait(1.0), Keys("7")]
    call(
        hotline,
        "5550005",
        [Gate(), Keys("1"), Gate(), Wait(KEY_TAIL), *wrong, ExpectHangup(40)],
        at_nodes=("language_menu", "main_menu"),
    )
    contact, events = contact_of(hotline, "5550005")

    assert inputs(events)[1:] == [("7", "invalid")] * 3
    exhausted = [o for o in of_type(events, "flow.outcome") if o["node"] == "main_menu"]
    assert exhausted[-1]["outcome"] == "exhausted"
    assert exhausted[-1]["next"] == "goodbye"
    assert nodes(events)[-2:] == ["goodbye", "end"]
    assert prompts(events)[-1] == ("goodbye", "done")
    assert ended(events)["hung_up_by"] == "hotline"
    assert contact.status == "completed"


def test_caller_hangs_up_mid_prompt(hotline: RunningHotline) -> None:
    call(hotline, "5550006", [Gate(), HangUp()], at_nodes=("greeting",))
    contact, events = contact_of(hotline, "5550006")

    # The greeting was still playing: it never finished, and the flow saw the hangup.
    assert prompts(events) == []
    assert nodes(events) == ["greeting"]
    assert of_type(events, "flow.ended")[0]["outcome"] == "hangup"
    assert ended(events) == {
        "status": "abandoned", "reason": "caller_hangup", "hung_up_by": "caller",
    }  # fmt: skip
    assert contact.status == "abandoned"


def test_number_without_flow_gets_a_polite_error(hotline: RunningHotline) -> None:
    call(hotline, "5550007", [ExpectHangup(30)], dial="999")
    contact, events = contact_of(hotline, "5550007")

    assert of_type(events, "call.no_flow") == [{"dialed": "999", "flow": None}]
    assert prompts(events) == [("no_service", "done")]
    assert ended(events) == {"status": "failed", "reason": "no_flow", "hung_up_by": "hotline"}
    assert contact.status == "failed"
    assert "no flow for number '999'" in hotline.log_tail(400)


def test_api_needs_the_token_and_shows_the_event_log(hotline: RunningHotline) -> None:
    call(hotline, "5550008", [Wait(0.5), HangUp()])
    contact, events = contact_of(hotline, "5550008")

    status, body = hotline.api("/api/contacts")
    assert status == 401 and "authentication required" in body["error"]
    status, body = hotline.api("/api/contacts", token="wrong")
    assert status == 401

    token = hotline.secrets["api_token"]
    status, body = hotline.api("/api/contacts?limit=500", token=token)
    assert status == 200
    assert contact.id in [c["id"] for c in body]
    status, body = hotline.api(f"/api/contacts/{contact.id}/events", token=token)
    assert status == 200
    assert [e["type"] for e in body] == [e.type for e in events]
    status, body = hotline.api("/api/contacts/nope/events", token=token)
    assert status == 404
