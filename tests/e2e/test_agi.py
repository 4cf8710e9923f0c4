"""The same YAML flows from a classic dialplan: AGI(agi://127.0.0.1:<port>/flow/NAME).

Number 200 runs ivr_flows/main.yaml over FastAGI (config: asterisk.agi_numbers); the
test flows run there too (2302 voicemail, 2303 transfer). The contact and its events
are the ones a Stasis call writes, with `via: agi`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.sipp import ExpectHangup, HangUp, Keys, Speak, Step, Wait
from tests.e2e.sipp_uas import TransferTarget
from tests.e2e.test_flow_nodes import calls, outcomes, variables
from tests.e2e.test_ivr_call import (
    AFTER_GREETING,
    contact_of,
    ended,
    inputs,
    nodes,
    of_type,
    prompts,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]


def test_main_flow_over_fastagi(hotline: RunningHotline) -> None:
    calls(
        hotline,
        "200",
        {
            "5552001": [Wait(AFTER_GREETING), Keys("1"), Wait(1.5), Keys("1"), ExpectHangup(40)],
            # An agent: the queue node hands the channel to Stasis and gets it back.
            "5552002": [Wait(AFTER_GREETING), Keys("2"), Wait(1.5), Keys("2"), ExpectHangup(40)],
            "5552003": [Wait(0.8), HangUp()],
        },
    )

    contact, events = contact_of(hotline, "5552001")
    assert of_type(events, "call.arrived")[0]["via"] == "agi"
    assert of_type(events, "call.arrived")[0]["dialed"] == "200"
    assert nodes(events) == [
        "greeting", "language_menu", "set_en", "main_menu", "hours_info", "goodbye", "end",
    ]  # fmt: skip
    assert inputs(events) == [("1", "match"), ("1", "match")]
    played = prompts(events)
    assert played[0] == ("welcome", "done")
    assert ("main_menu", "interrupted") in played  # barge-in over AGI too
    assert ("opening_hours", "done") in played
    assert ended(events) == {
        "status": "completed", "reason": "flow_completed", "hung_up_by": "hotline",
    }  # fmt: skip
    assert contact.flow == "main" and contact.flow_version and contact.status == "completed"

    contact, events = contact_of(hotline, "5552002")
    assert of_type(events, "flow.language") == [{"flow": "main", "language": "ru"}]
    assert all("/ru/" in m for p in of_type(events, "prompt.played")[2:] for m in p["media"])
    assert of_type(events, "queue.handoff") == [{"queue": "support", "to": "stasis"}]
    # The Stasis side offered it to the routing engine, which refused it (no agent's
    # phone is registered: the queue counts as empty, so closed) and sent it back.
    assert [e.queue for e in events if e.type == "contact.refused"] == ["support"]
    assert of_type(events, "queue.returned") == [{"queue": "support", "outcome": "closed"}]
    assert outcomes(events, "to_agent") == ["closed"]
    assert nodes(events)[-3:] == ["agents_unavailable", "goodbye", "end"]
    assert contact.language == "ru" and contact.status == "completed"

    contact, events = contact_of(hotline, "5552003")
    assert nodes(events) == ["greeting"]
    assert ended(events) == {
        "status": "abandoned", "reason": "caller_hangup", "hung_up_by": "caller",
    }  # fmt: skip


def test_voicemail_and_transfer_over_fastagi(hotline: RunningHotline) -> None:
    target = TransferTarget(hotline.workdir / "sipp-agi", "answer", hotline.targets["answer"])
    target.start()
    try:
        # The two flows at once: a message left on one, a transfer and survey on the other.
        steps: list[Step] = [Wait(1.0), Keys("1"), Wait(7.0), Keys("2"), Wait(4.0), Keys("3")]
        calls(
            hotline,
            {"5552302": "2302", "5552303": "2303"},
            {
                "5552302": [Wait(5.5), Speak("Please call me back about my order, thank you."),
                            Keys("#"), ExpectHangup(30)],
                "5552303": [*steps, ExpectHangup(40)],
            },
        )  # fmt: skip
        assert target.wait_done(30).ok
    finally:
        target.stop()

    contact, events = contact_of(hotline, "5552302")
    assert outcomes(events, "leave_message") == ["recorded"]
    (saved,) = of_type(events, "recording.saved")
    file = Path(saved["file"])
    assert file.parent == hotline.instance_dir() / "spool/recording"
    assert file.exists() and file.stat().st_size > 16000
    assert saved["duration"] >= 1.5
    assert variables(events)["message"] == saved["name"]
    assert contact.status == "completed"

    contact, events = contact_of(hotline, "5552303")
    (done,) = of_type(events, "transfer.ended")
    assert done["outcome"] == "answered" and done["dial_status"] == "ANSWER"
    assert done["ended_by"] == "target" and done["talk_seconds"] >= 1
    assert outcomes(events, "to_answering") == ["answered"]
    (survey,) = of_type(events, "survey.answered")
    assert survey["answers"] == {"satisfaction": 2, "recommend": 3}
    assert contact.status == "completed"
