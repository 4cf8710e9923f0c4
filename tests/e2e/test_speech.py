"""Spoken answers and transcripts on a real Asterisk: a SIPp caller says a Korean
phrase (espeak-ng, 8 kHz PCMU) and the Korean Vosk model hears it (number 311, flow
tests/e2e/flows/e2e_speech.yaml); what is not understood, or not said, falls back
to keys; a digit is said into a collect node (313); a recorded message is
transcribed (312)."""

from __future__ import annotations

import time
import urllib.parse

import pytest

from tests.e2e.conftest import RunningHotline
from tests.e2e.sipp import ExpectHangup, HangUp, Keys, SippCall, Speak, Step, Wait
from tests.e2e.test_ivr_call import contact_of, inputs, nodes, of_type, prompts

# The shared Hotline is up with its model loaded (tests/e2e/conftest.py `hotline`).
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

#: The menu prompt starts about this long after the answer; the caller talks over it.
INTO_PROMPT = 1.5
#: Said about the phrases of no option: several words, none an answer on its own.
NOT_AN_OPTION = "안녕하세요 불만이 있습니다 해지하고 싶어요"


def call(hotline: RunningHotline, caller: str, dial: str, steps: list[Step]) -> None:
    result = SippCall(hotline.workdir / "sipp", hotline.sip_port, dial, caller, steps).run()
    assert result.ok, f"SIPp call failed:\n{result.output}\n--- hotline log\n{hotline.log_tail()}"


def test_spoken_phrase_picks_the_option_and_stops_the_prompt(hotline: RunningHotline) -> None:
    call(
        hotline,
        "5558101",
        "311",
        [Wait(INTO_PROMPT), Speak("상담원", voice="ko"), ExpectHangup(30)],
    )
    contact, events = contact_of(hotline, "5558101")

    (heard,) = of_type(events, "speech.recognised")
    assert heard["text"] == "상담원" and heard["fallback"] is None, heard
    assert heard["node"] == "menu" and heard["language"] == "ko"
    assert heard["confidence"] >= 0.6
    assert inputs(events) == [("2", "match")]
    assert nodes(events)[-2:] == ["agent", "bye"]
    # The caller talked over the menu: it stopped (barge-in), it did not play out.
    assert ("main_menu", "interrupted") in prompts(events)
    assert contact.status == "completed"


def test_answer_not_understood_falls_back_to_keys(hotline: RunningHotline) -> None:
    steps: list[Step] = [Wait(INTO_PROMPT), Speak(NOT_AN_OPTION, voice="ko"), Wait(2.5)]
    call(hotline, "5558102", "311", [*steps, Keys("1"), ExpectHangup(30)])
    contact, events = contact_of(hotline, "5558102")

    (heard,) = of_type(events, "speech.recognised")
    assert heard["fallback"] == "keys", heard  # retries: 0, so keys at once
    assert heard["text"] != ""
    assert inputs(events) == [("", "invalid"), ("1", "match")]
    # The fallback prompt, then the menu again, listening for keys only.
    played = [key for key, _ in prompts(events)]
    assert played.count("invalid_option") >= 2  # fallback_prompt + invalid_prompt
    assert nodes(events)[-2:] == ["billing", "bye"]
    assert contact.status == "completed"


def test_silence_times_out_and_keys_still_answer(hotline: RunningHotline) -> None:
    # The menu prompt plays for several seconds, then 3 s of silence; keys after that.
    call(hotline, "5558103", "311", [Wait(12), Keys("2"), ExpectHangup(30)])
    _, events = contact_of(hotline, "5558103")

    assert of_type(events, "speech.recognised") == []
    assert inputs(events) == [("", "timeout"), ("2", "match")]
    assert nodes(events)[-2:] == ["agent", "bye"]


def test_digits_are_said_into_a_collect_node(hotline: RunningHotline) -> None:
    steps: list[Step] = [Wait(INTO_PROMPT), Speak("삼", voice="ko"), ExpectHangup(30)]
    call(hotline, "5558105", "313", steps)
    contact, events = contact_of(hotline, "5558105")

    (heard,) = of_type(events, "speech.recognised")
    assert heard["text"] == "삼" and heard["fallback"] is None, heard
    assert inputs(events) == [("3", "match")]
    assert {"flow": "e2e_speech_digits", "name": "choice", "value": "3"} in of_type(
        events, "flow.variable"
    )
    assert contact.status == "completed"


def test_recorded_message_is_transcribed(hotline: RunningHotline) -> None:
    token = hotline.secrets["api_token"]
    steps: list[Step] = [Wait(7), Speak(NOT_AN_OPTION, voice="ko"), Wait(1.0), HangUp()]
    call(hotline, "5558104", "312", steps)
    contact, events = contact_of(hotline, "5558104")
    (saved,) = of_type(events, "recording.saved")
    assert saved["outcome"] == "recorded"

    deadline = time.monotonic() + 60
    found: list = []
    while time.monotonic() < deadline and not found:
        status, found = hotline.api(f"/api/contacts/{contact.id}/transcripts", token=token)
        assert status == 200
        time.sleep(0.5)
    assert found, f"no transcript:\n{hotline.log_tail()}"
    (transcript,) = found
    assert transcript["recording"] == saved["name"] and transcript["language"] == "ko"
    assert transcript["word_count"] > 0 and transcript["text"]
    assert len(transcript["words"]) == transcript["word_count"]
    assert isinstance(transcript["sentiment"], float)  # ko has phrase lists configured

    _, events = contact_of(hotline, "5558104")
    (logged,) = of_type(events, "transcript.saved")
    assert logged["recording"] == saved["name"] and logged["words"] == transcript["word_count"]
    assert logged["flags"] == transcript["flags"]

    word = urllib.parse.quote(transcript["words"][0]["word"])
    status, hits = hotline.api(f"/api/transcripts?q={word}&limit=500", token=token)
    assert status == 200 and transcript["id"] in [t["id"] for t in hits]
    status, _ = hotline.api(f"/api/transcripts?q={word}")
    assert status == 401
