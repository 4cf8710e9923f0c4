"""Every node a live call can meet, on a real Asterisk with SIPp callers: collect with
validation, barge-in, http against the demo CRM (ok, not found, timeout), subflow,
hours open and closed, record, transfer to SIPp phones, survey.

Independent callers run at the same time; each test then reads its contacts' events
from the store, and `no_leaks` checks that Asterisk holds no channel or bridge.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hotline.store import LoggedEvent
from tests.e2e.conftest import RunningHotline
from tests.e2e.sipp import ExpectHangup, Gate, Keys, SippCall, Speak, Step, Wait
from tests.e2e.sipp_uas import TransferTarget
from tests.e2e.test_ivr_call import (
    contact_of,
    ended,
    inputs,
    live_events,
    nodes,
    of_type,
    prompts,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

#: When a caller's Gate opens: a test of the events of its (live) contact so far.
Ready = Callable[[list[LoggedEvent]], bool]


def node_started(node: str) -> Ready:
    """The flow has entered `node` (its prompt is about to play, keys are awaited)."""
    return lambda events: node in nodes(events)


def input_taken(result: str) -> Ready:
    """A collect node has judged an answer (`result`): it goes on to its next prompt."""
    return lambda events: result in [r for _, r in inputs(events)]


#: The account prompt cut by keys: balance_welcome (no barge-in, ~2.5 s) drops keys
#: typed while it plays, so the keys wait for the collect node to begin.
AT_ACCOUNT_PROMPT = node_started("ask_account")


#: Keys 0.8 s apart (not SIPp's 0.4): each key's RTP is played by a thread of its own,
#: and on a saturated machine a thread that starts late let one key's packets run into
#: the next one's (seen as "100000" for "100001": a repeated key counted twice).
KEY_GAP = 0.8


def calls(
    hotline: RunningHotline,
    dial: str | dict[str, str],
    callers: dict[str, list[Step]],
    gates: dict[str, list[Ready]] | None = None,
) -> None:
    """Run several SIPp callers at once, all dialing `dial` (or each its own: a dict by
    caller); all must complete their scenario. A caller's Gate steps open, in order, as
    its `gates` become true of its contact's events."""
    dials = dial if isinstance(dial, dict) else dict.fromkeys(callers, dial)
    running = {
        caller: SippCall(
            hotline.workdir / "sipp", hotline.sip_port, dials[caller], caller, steps
        ).start()
        for caller, steps in callers.items()
    }
    waiting = {caller: list(ready) for caller, ready in (gates or {}).items()}
    deadline = time.monotonic() + 60
    while any(waiting.values()) and time.monotonic() < deadline:
        for caller, ready in waiting.items():
            if ready and ready[0](live_events(hotline, caller)):
                running[caller].open_gate()
                ready.pop(0)
        time.sleep(0.1)
    results = [(caller.command, caller.wait()) for caller in running.values()]
    failed = [f"{command}\n{result.output}" for command, result in results if not result.ok]
    assert not failed, "SIPp call failed:\n" + "\n".join(failed) + f"\n--- {hotline.log_tail()}"
    shut = {caller: len(ready) for caller, ready in waiting.items() if ready}
    assert not shut, f"gates never opened (caller: how many): {shut}"


def outcomes(events: list, node: str) -> list[str]:
    return [o["outcome"] for o in of_type(events, "flow.outcome") if o["node"] == node]


def variables(events: list) -> dict[str, object]:
    return {v["name"]: v["value"] for v in of_type(events, "flow.variable")}


def test_account_balance_collect_http_and_subflow(hotline: RunningHotline) -> None:
    """Number 101 (balance -> subflow account): the demo CRM out of the box."""
    calls(
        hotline,
        "101",
        {
            # Keys typed while the account prompt plays: barge-in, then the lookup.
            "5551001": [Gate(), Keys("100001", KEY_GAP), ExpectHangup(40)],
            # Too short (ended with #), then (once it is refused, during the "invalid,
            # once more" prompts) an account the CRM does not know.
            "5551002": [
                Gate(),
                Keys("123#", KEY_GAP),
                Gate(),
                Keys("100009", KEY_GAP),
                ExpectHangup(40),
            ],
            # The slow account: the CRM answers after 10 s, the node gives up at 3 s.
            "5551003": [Gate(), Keys("999999", KEY_GAP), ExpectHangup(40)],
            # Garbage with a 500: the error outcome.
            "5551004": [Gate(), Keys("666666", KEY_GAP), ExpectHangup(40)],
        },
        {
            "5551001": [AT_ACCOUNT_PROMPT],
            "5551002": [AT_ACCOUNT_PROMPT, input_taken("invalid")],
            "5551003": [AT_ACCOUNT_PROMPT],
            "5551004": [AT_ACCOUNT_PROMPT],
        },
    )

    contact, events = contact_of(hotline, "5551001")
    assert inputs(events) == [("100001", "match")]
    assert nodes(events) == [
        "greeting", "account", "ask_account", "lookup", "say_balance", "identified",
        "goodbye", "end",
    ]  # fmt: skip
    played = prompts(events)
    assert ("account_prompt", "interrupted") in played
    assert ("number:1250", "done") in played
    assert variables(events) == {
        "account": "100001", "customer_name": "Ada Lovelace", "balance": 1250,
    }  # fmt: skip
    assert outcomes(events, "lookup") == ["ok"]
    assert outcomes(events, "account") == ["identified"]
    started = of_type(events, "flow.started")
    assert [(s["flow"], s["depth"]) for s in started] == [("balance", 0), ("account", 1)]
    assert contact.status == "completed" and contact.flow == "balance"
    assert contact.variables["customer_name"] == "Ada Lovelace"

    _, events = contact_of(hotline, "5551002")
    assert inputs(events) == [("123", "invalid"), ("100009", "match")]
    assert [k for k, _ in prompts(events)][:4] == [
        "balance_welcome", "account_prompt", "account_invalid", "account_prompt",
    ]  # fmt: skip
    assert outcomes(events, "lookup") == ["not_found"]
    assert "account_not_found" in [k for k, _ in prompts(events)]
    assert outcomes(events, "account") == ["not_found"]

    _, events = contact_of(hotline, "5551003")
    (timed_out,) = [o for o in of_type(events, "flow.outcome") if o["node"] == "lookup"]
    assert timed_out["outcome"] == "timeout" and timed_out["next"] == "crm_down"
    assert "crm_unavailable" in [k for k, _ in prompts(events)]
    assert outcomes(events, "account") == ["unavailable"]

    contact, events = contact_of(hotline, "5551004")
    assert outcomes(events, "lookup") == ["error"]
    assert outcomes(events, "account") == ["unavailable"]
    assert ended(events)["status"] == "completed"


def test_hours_open_then_closed(hotline: RunningHotline) -> None:
    calls(hotline, "301", {"5553001": [ExpectHangup(30)]})
    contact, events = contact_of(hotline, "5553001")

    assert outcomes(events, "check_open") == ["open"]
    assert outcomes(events, "check_closed") == ["closed"]
    assert [k for k, _ in prompts(events)] == ["we_are_open", "we_are_closed"]
    assert contact.status == "completed"


def test_voicemail_is_recorded_and_stored_with_the_contact(hotline: RunningHotline) -> None:
    # The prompt (~4 s) and the beep, then ~3 s of speech, then "#" ends the message.
    steps: list[Step] = [
        Wait(5.5),
        Speak("Hello, this is a test message for the hotline. Please call me back."),
        Keys("#"),
        ExpectHangup(30),
    ]
    calls(hotline, "302", {"5553002": steps})
    contact, events = contact_of(hotline, "5553002")

    assert outcomes(events, "leave_message") == ["recorded"]
    (saved,) = of_type(events, "recording.saved")
    assert saved["outcome"] == "recorded" and saved["ended_by"] == "flow"
    assert saved["duration"] >= 2
    assert saved["name"].startswith("vm-")
    file = Path(saved["file"])
    assert file.parent == hotline.instance_dir() / "spool/recording"
    assert file.name == f"{saved['name']}.wav"
    assert file.exists() and file.stat().st_size > 16000  # > 1 s of 8 kHz 16-bit audio
    assert variables(events)["message"] == saved["name"]
    assert contact.variables["message"] == saved["name"]
    assert "message_saved" in [k for k, _ in prompts(events)]
    assert contact.status == "completed"


def test_transfer_answered_busy_and_no_answer_then_survey(hotline: RunningHotline) -> None:
    sipp = hotline.workdir / "sipp"
    targets = {
        name: TransferTarget(sipp, name, hotline.targets[name], ring=1.0, talk=2.0, wait=60).start()
        for name in ("answer", "no_answer", "busy")
    }
    try:
        calls(
            hotline,
            "303",
            {
                # Answered: ~1 s ringing, 2 s talking, the target hangs up; then the survey.
                "5553031": [Wait(1.0), Keys("1"), Wait(7.0), Keys("4"), Wait(4.0), Keys("5"),
                            ExpectHangup(40)],
                "5553032": [Wait(1.0), Keys("2"), ExpectHangup(40)],
                "5553033": [Wait(1.0), Keys("3"), ExpectHangup(40)],
            },
        )  # fmt: skip
        for target in targets.values():
            result = target.wait_done(30)
            assert result.ok, f"transfer target failed:\n{result.output}"
    finally:
        for target in targets.values():
            target.stop()

    contact, events = contact_of(hotline, "5553031")
    (started,) = of_type(events, "transfer.started")
    assert started["endpoint"] == f"PJSIP/anonymous/{targets['answer'].uri}"
    (answered,) = of_type(events, "transfer.answered")
    assert answered["bridge"]
    (done,) = of_type(events, "transfer.ended")
    assert done["outcome"] == "answered" and done["ended_by"] == "target"
    assert 1.0 <= done["talk_seconds"] < 10
    assert outcomes(events, "to_answering") == ["answered"]
    # The caller stayed after the target hung up, and answered the survey.
    assert outcomes(events, "survey") == ["done"]
    (survey,) = of_type(events, "survey.answered")
    assert survey == {
        "survey": "csat", "answers": {"satisfaction": 4, "recommend": 5}, "node": "survey",
    }  # fmt: skip
    assert "survey_thanks" in [k for k, _ in prompts(events)]
    assert contact.status == "completed"

    _, events = contact_of(hotline, "5553032")
    assert outcomes(events, "to_silent") == ["no_answer"]
    assert of_type(events, "transfer.ended")[0]["outcome"] == "no_answer"
    assert "transfer_unavailable" in [k for k, _ in prompts(events)]

    _, events = contact_of(hotline, "5553033")
    assert outcomes(events, "to_busy") == ["busy"]
    assert of_type(events, "transfer.ended")[0]["cause"] == 17
