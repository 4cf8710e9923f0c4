"""The e2e helpers' own logic: the short test sound set (tests/e2e/short_prompts.py) and
when a caller's gate opens (tests/e2e/gates.py)."""

from __future__ import annotations

import wave
from datetime import UTC, datetime
from pathlib import Path

import yaml

from hotline.catalogue import Catalogue
from hotline.store import LoggedEvent
from tests.e2e.gates import reached
from tests.e2e.short_prompts import SPEECH_FLOWS, without_speech, write_sound_set

HOME = Path(__file__).resolve().parents[2]


def seconds(path: Path) -> float:
    with wave.open(str(path)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        return audio.getnframes() / audio.getframerate()


def test_every_prompt_text_becomes_a_short_tone(tmp_path: Path) -> None:
    folder = write_sound_set(tmp_path / "sounds", longer={"welcome": 2.0}, queues=["e2e_cb"])
    project = Catalogue.load(HOME / "sounds/catalogue.yaml")
    written = Catalogue.load(folder / "catalogue.yaml")
    for language in project.languages:
        for key in sorted(project.keys()):
            if project.text(key, language):
                assert written.text(key, language) == project.text(key, language)
                expected = 2.0 if key == "welcome" else 0.3
                assert seconds(folder / language / f"{key}.wav") == expected, (key, language)
    # The queue's spoken name, in every language, a tone too; the project's untouched.
    assert "queue_name_e2e_cb" not in project
    assert written.text("queue_name_e2e_cb", "ru") == "e2e_cb"
    assert seconds(folder / "en/queue_name_e2e_cb.wav") == 0.3


def test_without_speech_leaves_out_the_flows_that_listen_and_their_numbers(
    tmp_path: Path,
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    for name in (*SPEECH_FLOWS, "main"):
        (flows / f"{name}.yaml").write_text(yaml.safe_dump({"name": name}))
    config = {
        "flows_dir": str(flows),
        "numbers": {"100": "main", "311": "e2e_speech", "334": "e2e_live"},
        "speech": {"models": {"ko": "somewhere"}, "live_transcripts": ["e2e_chat"]},
    }
    quiet = without_speech(config)
    assert quiet["numbers"] == {"100": "main"}
    assert quiet["speech"]["models"] == {} and quiet["speech"]["live_transcripts"] == []
    assert sorted(p.stem for p in flows.iterdir()) == ["main"]
    assert config["speech"]["models"] == {"ko": "somewhere"}  # the caller's dict unchanged


def event(kind: str, **data: object) -> LoggedEvent:
    return LoggedEvent(1, "c", datetime.now(UTC), kind, None, None, dict(data))


def test_a_gate_opens_on_an_event_a_played_prompt_or_a_test() -> None:
    events = [event("contact.join"), event("prompt.played", prompts=["a", "digits:12"])]
    assert reached(events, "contact.join")
    assert not reached(events, "queue.callback")
    assert reached(events, "prompt:a") and reached(events, "prompt:digits:12")
    assert not reached(events, "prompt:b")
    assert not reached([event("contact.join", prompts=None)], "prompt:a")
    assert reached(events, lambda got: len(got) == 2)
    assert not reached(events, lambda got: [])
