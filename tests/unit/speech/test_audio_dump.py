"""The debug WAV of what a live transcript's recogniser was given."""

import logging
import wave
from pathlib import Path

import pytest

from ari_app.audio_dump import AudioDump


def test_the_audio_is_written_as_a_wav_named_after_the_call(tmp_path: Path):
    dump = AudioDump(tmp_path / "audio", "1700000000.5-live", 8000)
    dump.write(b"\x01\x00" * 160)
    dump.write(b"\x02\x00" * 160)
    dump.close()
    dump.write(b"\x03\x00" * 160)  # after close: ignored
    (path,) = (tmp_path / "audio").iterdir()
    assert path == dump.path and path.name.endswith("-1700000000.5-live.wav")
    with wave.open(str(path)) as audio:
        assert (audio.getnchannels(), audio.getsampwidth(), audio.getframerate()) == (1, 2, 8000)
        assert audio.readframes(1000) == b"\x01\x00" * 160 + b"\x02\x00" * 160


def test_a_folder_that_cannot_be_written_only_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        dump = AudioDump(blocker / "audio", "call-live", 8000)
        dump.write(b"\x01\x00" * 160)
        dump.close()
    assert "cannot write the call's audio" in caplog.text
    assert blocker.read_text() == "not a folder"
