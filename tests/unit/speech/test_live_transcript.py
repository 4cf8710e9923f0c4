"""A conversation's live transcript with a stand-in recogniser and audio source (the
real end-pointer): utterance after utterance logged, paused on hold, the recogniser
failing or busy stops only the transcript, nothing left open."""

from __future__ import annotations

import asyncio
import math
import wave
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ari_app.client import AriError
from ari_app.live_transcript import LiveTranscript, live_transcript
from ari_app.media import MediaServer
from ari_app.speech import SpeechSettings
from hotline.speech.recogniser import Recognition, SpeechUnavailable


class Stream:
    def __init__(self, engine: Engine, text: str, fail: bool) -> None:
        self.engine, self.text, self.fail = engine, text, fail
        self.open = True

    async def feed(self, pcm: bytes) -> None:
        if self.fail:
            raise SpeechUnavailable("failed", "the engine crashed")

    async def finish(self) -> Recognition:
        await self.close()
        return Recognition(self.text, 0.8)

    async def close(self) -> None:
        if self.open:
            self.open = False
            self.engine.active -= 1


class Engine:
    """Hears the next of `texts` in each utterance; `fail_at`: that utterance's feed fails;
    `slots`: at most that many at once."""

    sample_rate = 8000

    def __init__(self, texts: list[str], fail_at: int = 0, slots: int = 8) -> None:
        self.texts, self.fail_at, self.slots = texts, fail_at, slots
        self.active = 0
        self.made = 0
        self.phrases: list[Sequence[str] | None] = []

    def languages(self) -> frozenset[str]:
        return frozenset({"ko"})

    def stream(self, language: str, phrases: Sequence[str] | None) -> Stream:
        if self.active >= self.slots:
            raise SpeechUnavailable("busy", "all slots in use")
        self.active += 1
        self.made += 1
        self.phrases.append(phrases)
        text = self.texts[self.made - 1] if self.made <= len(self.texts) else ""
        return Stream(self, text, self.made == self.fail_at)

    async def transcribe(self, language: str, wav: Path) -> Recognition:
        raise AssertionError("not for live transcripts")

    async def close(self) -> None:
        pass


class Audio:
    channel_id = "caller-1"

    def __init__(self) -> None:
        self.listener: Any = None
        self.opened = 0
        self.closed = 0

    def start(self) -> asyncio.Future[None]:
        self.opened += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def close(self) -> None:
        self.closed += 1
        self.listener = None

    def say(self, seconds: float) -> None:
        for frame in frames(0.4, 0) + frames(seconds, 8000) + frames(0.5, 0):
            if self.listener is not None:
                self.listener.audio(frame)


def frames(seconds: float, amplitude: int) -> list[bytes]:
    out = []
    for start in range(0, int(seconds * 8000), 160):
        wave = (math.sin(2 * math.pi * 300 * (start + i) / 8000) for i in range(160))
        out.append(array("h", (int(amplitude * x) for x in wave)).tobytes())
    return out


def settings(engine: Engine, **more: Any) -> SpeechSettings:
    return SpeechSettings(recogniser=engine, media=MediaServer(), app="hotline", **more)


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))

    async def until(self, count: int) -> None:
        for _ in range(400):
            if len(self.events) >= count:
                return
            await asyncio.sleep(0.005)


KOREAN_CALLER = {"side": "caller", "language": "ko"}


async def test_each_utterance_is_logged_in_order() -> None:
    engine, audio, log = Engine(["인터넷", "안 돼요"]), Audio(), Log()
    live = LiveTranscript(audio, settings(engine), "ko", log)
    assert await live.start() and audio.listener is live
    audio.say(0.6)
    audio.say(0.8)
    await log.until(2)
    await live.stop()
    assert log.events == [
        (
            "call.transcribed",
            {
                "utterance": 1,
                "text": "인터넷",
                "confidence": 0.8,
                "side": "caller",
                "language": "ko",
            },
        ),
        (
            "call.transcribed",
            {
                "utterance": 2,
                "text": "안 돼요",
                "confidence": 0.8,
                "side": "caller",
                "language": "ko",
            },
        ),
    ]
    # Nothing left: the next utterance's slot is free again, the audio closed.
    assert engine.active == 0 and audio.listener is None and audio.closed == 1


async def test_the_snoops_gaps_inside_a_sentence_do_not_cut_it_and_the_dump_has_it(
    tmp_path: Path,
) -> None:
    """On a loaded machine the snoop sends digital silence at ticks the caller's audio
    was late for: 0.3 s of it (longer than the end-pointer's silence) inside a sentence
    still makes one utterance, and the debug WAV holds the sentence without the gaps."""
    engine, audio, log = Engine(["안녕하세요 인터넷이 안 돼요"]), Audio(), Log()
    live = LiveTranscript(audio, settings(engine, debug_audio=tmp_path), "ko", log)
    await live.start()
    word = frames(0.4, 8000)
    gap = frames(0.3, 0)
    for frame in frames(0.4, 0) + word + gap + word + gap[:2] + word + frames(0.8, 0):
        audio.listener.audio(frame)
    await log.until(1)
    await live.stop()
    assert [(k, d["text"]) for k, d in log.events] == [
        ("call.transcribed", "안녕하세요 인터넷이 안 돼요")
    ]
    assert engine.made == 2  # the sentence, and the next utterance listened for
    assert live.underruns.dropped == len(gap) + 2
    (path,) = tmp_path.iterdir()
    assert path.name.endswith("-caller-1-live.wav")
    with wave.open(str(path)) as dumped:
        heard = dumped.readframes(dumped.getnframes())
    said = b"".join(frames(0.4, 0) + word * 3 + frames(0.8, 0))
    assert heard == said


async def test_silence_logs_nothing_and_an_empty_result_is_not_logged() -> None:
    engine, audio, log = Engine([""]), Audio(), Log()
    live = LiveTranscript(audio, settings(engine), "ko", log)
    await live.start()
    audio.say(0.5)
    await asyncio.sleep(0.05)
    await live.stop()
    assert log.events == [] and engine.active == 0


async def test_the_languages_phrases_are_the_vocabulary_else_free_form() -> None:
    engine = Engine(["x"])
    words = settings(engine, live_phrases={"ko": ("인터넷", "안 돼요")})
    live = LiveTranscript(Audio(), words, "ko", Log())
    await live.start()
    await live.stop()
    live = LiveTranscript(Audio(), settings(engine), "ko", Log())
    await live.start()
    await live.stop()
    assert engine.phrases == [("인터넷", "안 돼요"), None]


async def test_on_hold_the_audio_goes_and_comes_back_after() -> None:
    engine, audio, log = Engine(["하나", "둘"]), Audio(), Log()
    live = LiveTranscript(audio, settings(engine), "ko", log)
    await live.start()
    emit = live.watch(log)
    await emit("call.held", {"agent": "alice"})
    assert audio.listener is None and audio.closed == 1 and engine.active == 0
    audio.say(0.6)  # said on hold: not heard
    await emit("call.resumed", {"agent": "alice"})
    assert audio.listener is live and audio.opened == 2
    audio.say(0.6)
    await log.until(3)
    await live.stop()
    assert [k for k, _ in log.events] == ["call.held", "call.resumed", "call.transcribed"]
    assert log.events[2][1]["text"] == "둘"


async def test_a_call_ended_on_hold_is_not_listened_to_again() -> None:
    engine, audio, log = Engine(["하나"]), Audio(), Log()
    live = LiveTranscript(audio, settings(engine), "ko", log)
    await live.start()
    emit = live.watch(log)
    await emit("call.held", {"agent": "alice"})
    await emit("call.resumed", {"agent": "alice", "ended": True})
    assert audio.opened == 1 and audio.listener is None and engine.active == 0
    await live.stop()
    assert [k for k, _ in log.events] == ["call.held", "call.resumed"]


async def test_the_recogniser_failing_stops_the_transcript_only() -> None:
    engine, audio, log = Engine(["인터넷", "?"], fail_at=2), Audio(), Log()
    live = LiveTranscript(audio, settings(engine), "ko", log)
    await live.start()
    audio.say(0.6)
    audio.say(0.6)
    await log.until(2)
    await asyncio.sleep(0.02)
    assert [k for k, _ in log.events] == ["call.transcribed", "call.transcription_stopped"]
    assert log.events[1][1] == {"utterance": 1, "reason": "failed"}
    assert audio.listener is None and audio.closed >= 1 and engine.active == 0
    audio.say(0.6)  # nothing more is heard, and the end is quiet
    await live.stop()
    assert len(log.events) == 2 and live.stopped == "failed"


async def test_a_busy_recogniser_says_so_and_opens_nothing() -> None:
    engine, audio, log = Engine([], slots=0), Audio(), Log()
    live = LiveTranscript(audio, settings(engine), "ko", log)
    assert not await live.start()
    await live.stop()
    assert log.events == [("call.transcription_stopped", {"utterance": 0, "reason": "busy"})]
    assert audio.opened == 0 and audio.listener is None


class NoAudio(Audio):
    def start(self) -> asyncio.Future[None]:
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(AriError(404, "Channel not found"))
        return failed


async def test_no_audio_for_the_call_says_so_and_holds_no_slot() -> None:
    engine, audio, log = Engine([]), NoAudio(), Log()
    live = LiveTranscript(audio, settings(engine), "ko", log)
    assert not await live.start()
    await live.stop()
    assert log.events == [("call.transcription_stopped", {"utterance": 0, "reason": "no_audio"})]
    assert engine.active == 0 and audio.listener is None and audio.closed >= 1


class Speech:
    def __init__(self, speech_settings: SpeechSettings) -> None:
        self.settings = speech_settings
        self.audio = Audio()

    async def take_audio(self) -> Audio:
        return self.audio


async def test_started_only_for_configured_queues_and_languages_with_a_model() -> None:
    engine, log = Engine(["x"] * 3), Log()
    on = Speech(settings(engine, live_queues=frozenset({"support"})))
    everywhere = Speech(settings(engine, live_queues=frozenset({"*"})))
    off = Speech(settings(engine))
    assert await live_transcript(off, "support", "ko", log) is None  # type: ignore[arg-type]
    assert await live_transcript(on, "sales", "ko", log) is None  # type: ignore[arg-type]
    assert await live_transcript(on, "support", "en", log) is None  # type: ignore[arg-type]
    assert await live_transcript(None, "support", "ko", log) is None
    for speech in (on, everywhere):
        live = await live_transcript(speech, "support", "ko", log)  # type: ignore[arg-type]
        assert live is not None and speech.audio.listener is live
        await live.stop()
    assert log.events == [] and engine.active == 0
