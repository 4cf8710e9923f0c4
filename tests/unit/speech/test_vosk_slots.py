"""The Vosk engine's bounds, without a model: slots refuse at once when full, a
stream that falls behind is given up, a missing or broken model is reported."""

import threading
from pathlib import Path

import pytest

from hotline.speech.recogniser import SpeechUnavailable
from hotline.speech.vosk_engine import VoskRecogniser, check_model_dir, recognition


def engine(max_streams: int = 1) -> VoskRecogniser:
    recogniser = VoskRecogniser({"ko": Path("nowhere")}, max_streams=max_streams, workers=1)
    recogniser._models["ko"] = object()  # stands in for a loaded model
    return recogniser


async def test_busy_recogniser_refuses_at_once_and_frees_slots():
    recogniser = engine(max_streams=2)
    first = recogniser.stream("ko", ["요금"])
    second = recogniser.stream("ko", None)
    with pytest.raises(SpeechUnavailable) as busy:
        recogniser.stream("ko", ["요금"])
    assert busy.value.reason == "busy"
    assert str(busy.value) == "speech unavailable: busy: 2 recognitions running"
    await first.close()
    await first.close()  # twice frees one slot only
    third = recogniser.stream("ko", ["요금"])
    with pytest.raises(SpeechUnavailable):
        recogniser.stream("ko", ["요금"])
    await second.close()
    await third.close()
    assert recogniser.active == 0
    await recogniser.close()


async def test_no_model_loading_and_failed_are_told_apart(tmp_path):
    recogniser = VoskRecogniser({"ko": tmp_path / "missing", "en": tmp_path})
    with pytest.raises(SpeechUnavailable) as error:
        recogniser.stream("ru", None)
    assert error.value.reason == "no_model"
    with pytest.raises(SpeechUnavailable) as error:
        recogniser.stream("ko", None)
    assert error.value.reason == "loading"
    await recogniser.load()
    with pytest.raises(SpeechUnavailable) as error:
        recogniser.stream("ko", None)
    assert error.value.reason == "failed" and "is not a directory" in str(error.value)
    with pytest.raises(SpeechUnavailable) as error:
        recogniser.stream("en", None)
    assert "is not a Vosk model (no am/ and conf/ folders)" in str(error.value)
    assert recogniser.loaded == frozenset()
    await recogniser.close()


def test_model_dir_check(tmp_path):
    assert check_model_dir(tmp_path / "x") == f"{tmp_path / 'x'} is not a directory"
    (tmp_path / "am").mkdir()
    (tmp_path / "conf").mkdir()
    assert check_model_dir(tmp_path) is None


async def test_a_stream_that_falls_behind_is_given_up():
    recogniser = engine()
    stream = recogniser.stream("ko", ["요금"])
    release = threading.Event()
    stream._accept = lambda pcm: release.wait(5)  # the worker is stuck
    second = bytes(16000)  # 1 s at 8 kHz
    await stream.feed(second)
    await stream.feed(second)
    with pytest.raises(SpeechUnavailable) as error:
        await stream.feed(second)
    assert error.value.reason == "slow"
    assert recogniser.active == 0  # the slot is free again
    release.set()
    await recogniser.close()


def test_confidence_is_the_least_sure_word():
    result = recognition(
        {
            "text": "기술 지원",
            "result": [
                {"word": "기술", "start": 0.1, "end": 0.5, "conf": 0.9},
                {"word": "지원", "start": 0.5, "end": 0.9, "conf": 0.7},
            ],
        }
    )
    assert (result.text, result.confidence) == ("기술 지원", 0.7)
    assert recognition({"text": ""}).confidence == 0.0


class Kaldi:
    """Stands in for Vosk's KaldiRecognizer: records the pieces it is given; ends an
    utterance of its own (AcceptWaveform True) at the `end_at`-th piece."""

    def __init__(self, end_at: int = 0) -> None:
        self.pieces: list[int] = []
        self.end_at = end_at

    def AcceptWaveform(self, pcm: bytes) -> bool:
        self.pieces.append(len(pcm))
        return len(self.pieces) == self.end_at

    def Result(self) -> str:
        return '{"result": [{"word": "인터넷", "start": 0, "end": 0.5, "conf": 0.9}]}'

    def FinalResult(self) -> str:
        return '{"result": [{"word": "안 돼요", "start": 0.6, "end": 1, "conf": 0.7}]}'


@pytest.mark.parametrize("batches", [[1] * 23, [7, 9, 7], [23]])
async def test_vosk_gets_the_same_pieces_however_the_frames_were_batched(batches):
    """A loaded machine hands a stream's 20 ms frames to the worker in other batches;
    Vosk (whose words depend on how its audio is cut) gets 0.2 s pieces all the same."""
    recogniser = engine()
    stream = recogniser.stream("ko", ["인터넷"])
    kaldi = stream._recogniser = Kaldi(end_at=1)
    for frames in batches:
        stream._accept(b"\x01\x00" * 160 * frames)
    heard = stream._final()
    assert kaldi.pieces == [3200, 3200, 960]  # 23 frames: two pieces and what is left
    # Vosk's own end of speech inside the utterance: its words are kept, then the rest.
    assert heard.text == "인터넷 안 돼요" and heard.confidence == 0.7
    assert [w.text for w in heard.words] == ["인터넷", "안 돼요"]
    await stream.close()
    await recogniser.close()


def test_a_process_stopping_while_a_model_loads_exits_at_once(tmp_path):
    """A model takes seconds to load; a hotline told to stop meanwhile must not wait
    for it at exit (a pool's threads are joined at exit: the CI saw a 60 s stop)."""
    import subprocess
    import sys
    import time

    (tmp_path / "am").mkdir()
    (tmp_path / "conf").mkdir()
    script = f"""
import asyncio, time
from pathlib import Path
from hotline.speech import vosk_engine
vosk_engine._load_model = lambda path: time.sleep(30)
async def main():
    recogniser = vosk_engine.VoskRecogniser({{"ko": Path({str(tmp_path)!r})}})
    loading = asyncio.create_task(recogniser.load())
    await asyncio.sleep(0.3)
    loading.cancel()
    await recogniser.close()
asyncio.run(main())
print("stopped")
"""
    started = time.monotonic()
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=25)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"
    assert time.monotonic() - started < 10


async def test_a_model_that_fails_to_load_is_reported_with_its_error(tmp_path, monkeypatch):
    from hotline.speech import vosk_engine

    (tmp_path / "am").mkdir()
    (tmp_path / "conf").mkdir()

    def broken(path: Path) -> object:
        raise RuntimeError(f"cannot read {path.name}")

    monkeypatch.setattr(vosk_engine, "_load_model", broken)
    recogniser = VoskRecogniser({"ko": tmp_path})
    await recogniser.load()
    with pytest.raises(SpeechUnavailable) as error:
        recogniser.stream("ko", None)
    assert error.value.reason == "failed" and f"cannot read {tmp_path.name}" in str(error.value)
    await recogniser.close()
