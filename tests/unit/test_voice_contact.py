"""Pieces both voice runtimes share: transfer targets, recording paths, key collection."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from hotline.flows.port import Ask
from hotline.store import Store
from voice.contact import ContactCall
from voice.dialing import dial_string
from voice.keys import gather
from voice.recordings import Recordings

AGENTS = frozenset({"1001", "1002"})


def test_agents_and_sip_uris_dial_through_pjsip() -> None:
    assert dial_string("1001", AGENTS) == "PJSIP/1001"
    assert dial_string(" sip:sales@127.0.0.1:5070 ", AGENTS) == (
        "PJSIP/anonymous/sip:sales@127.0.0.1:5070"
    )
    assert dial_string("sips:desk@example.org", AGENTS) == "PJSIP/anonymous/sips:desk@example.org"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("1009", "neither an agent's endpoint (1001, 1002) nor a sip: URI"),
        ("PJSIP/1001", "neither an agent's endpoint"),
        ("sip:a b@host", "is not a SIP URI we can dial"),
        ("sip:x@host,g", "is not a SIP URI we can dial"),  # would smuggle Dial options
        ("sip:", "is not a SIP URI we can dial"),
    ],
)
def test_bad_targets_say_why(target: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dial_string(target, AGENTS)


def test_no_agents_configured_is_said() -> None:
    with pytest.raises(ValueError, match="none configured"):
        dial_string("1001", frozenset())


def test_recording_paths_and_event(tmp_path: Path) -> None:
    recordings = Recordings("/srv/hotline/x/spool/recording/", tmp_path / "recording")
    assert recordings.asterisk_path("vm-1") == "/srv/hotline/x/spool/recording/vm-1.wav"
    recordings.prepare()
    assert (tmp_path / "recording").is_dir()
    event = recordings.event("vm-1", 3.456, "recorded", ended_by="flow")
    assert event == {
        "name": "vm-1", "duration": 3.46, "outcome": "recorded", "format": "wav",
        "file": str(tmp_path / "recording/vm-1.wav"),
        "asterisk_file": "/srv/hotline/x/spool/recording/vm-1.wav", "ended_by": "flow",
    }  # fmt: skip
    elsewhere = Recordings("/var/spool/asterisk/recording", None)
    elsewhere.prepare()  # nothing to create here
    assert elsewhere.event("vm-2", 1, "recorded")["file"] == (
        "/var/spool/asterisk/recording/vm-2.wav"
    )


async def collect(ask: Ask, typed: list[str], keys: list[str | None]) -> tuple[str, bool, list]:
    waits: list[float] = []

    async def next_key(seconds: float) -> str | None:
        waits.append(seconds)
        return keys.pop(0) if keys else None

    answer = await gather(ask, typed, next_key)
    return answer.digits, answer.timed_out, waits


async def test_gather_typeahead_finish_key_and_timeouts() -> None:
    ask = Ask(prompts=[], max_digits=6, timeout=5, inter_digit_timeout=2, finish_key="#")
    assert await collect(ask, ["1"], ["2", "3", "#"]) == ("123", False, [2, 2, 2])
    assert await collect(ask, [], [None]) == ("", True, [5])
    assert await collect(ask, [], ["4", None]) == ("4", False, [5, 2])
    menu = Ask(prompts=[], max_digits=2, complete_on=frozenset({"1", "23"}))
    assert (await collect(menu, [], ["1"]))[0] == "1"
    assert (await collect(menu, [], ["2", "3", "9"]))[0] == "23"


async def test_a_call_goes_on_while_its_events_are_written(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """emit does not wait for the disk; the events land in order, and `_written` is the
    point where they all are (the contact is closed only after it)."""
    runtime = SimpleNamespace(store=store, flows=None, runs={})
    call = ContactCall(
        runtime,  # type: ignore[arg-type]
        channel_id="c1",
        caller="+15550001",
        dialed="100",
        via="ari",
        errors=(),
    )
    call.adopt(await store.open_contact("voice", "inbound", "+15550001", "100"))
    for n in range(5):
        await call.emit("flow.node", {"n": n})
    assert call._writing  # not written yet: nothing waited for them
    await call._written()
    assert call.contact_id is not None
    assert [e.data["n"] for e in await store.events(call.contact_id)] == list(range(5))

    call.adopt("no-such-contact")  # a write that fails is told, not raised
    await call.emit("flow.node", {"n": 5})
    await call._written()
    assert "not written: no contact with id 'no-such-contact'" in caplog.text
