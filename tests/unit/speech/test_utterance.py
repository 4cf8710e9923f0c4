"""An utterance on a live call, with a stand-in recogniser: start of speech, the
result after end of speech, and abandoning it."""

import asyncio
import math
from array import array

from ari_app.speech import CANCELLED, RESULT, STARTED, Utterance
from hotline.speech.endpoint import EndpointSettings
from hotline.speech.recogniser import Recognition


class Stream:
    def __init__(self) -> None:
        self.fed = b""
        self.closed = False

    async def feed(self, pcm: bytes) -> None:
        self.fed += pcm

    async def finish(self) -> Recognition:
        self.closed = True
        return Recognition("요금", 0.9)

    async def close(self) -> None:
        self.closed = True


def frames(seconds: float, amplitude: int) -> list[bytes]:
    out = []
    for start in range(0, int(seconds * 8000), 160):
        wave = (math.sin(2 * math.pi * 300 * (start + i) / 8000) for i in range(160))
        out.append(array("h", (int(amplitude * x) for x in wave)).tobytes())
    return out


async def until(events: list, kind: str) -> None:
    for _ in range(200):
        if any(e["type"] == kind for e in events):
            return
        await asyncio.sleep(0.005)


async def test_speech_starts_then_its_result_is_posted():
    events: list = []
    stream = Stream()
    utterance = Utterance(stream, events.append, max_seconds=5, endpoint=EndpointSettings())
    for frame in frames(0.5, 0) + frames(0.6, 8000) + frames(0.5, 0):
        utterance.audio(frame)
    await until(events, RESULT)
    assert [e["type"] for e in events] == [STARTED, RESULT]
    assert events[1] == {
        "type": RESULT,
        "utterance": utterance.id,
        "text": "요금",
        "confidence": 0.9,
    }
    # The pre-roll before the start is fed too: the word's first sound counts.
    assert len(stream.fed) >= int((0.6 + 0.25) * 8000) * 2
    await utterance.close()
    assert stream.closed


async def test_a_click_is_cancelled_and_a_closed_utterance_posts_nothing_more():
    events: list = []
    stream = Stream()
    utterance = Utterance(stream, events.append, max_seconds=5, endpoint=EndpointSettings())
    for frame in frames(0.3, 0) + frames(0.08, 8000) + frames(0.4, 0):
        utterance.audio(frame)
    assert [e["type"] for e in events] == [STARTED, CANCELLED]
    for frame in frames(0.6, 8000) + frames(0.5, 0):  # then the real answer
        utterance.audio(frame)
    await until(events, RESULT)
    assert [e["type"] for e in events] == [STARTED, CANCELLED, STARTED, RESULT]
    await utterance.close()
    assert stream.closed
    for frame in frames(0.6, 8000):
        utterance.audio(frame)
    assert len(events) == 4


async def test_the_longest_utterance_is_cut_off():
    events: list = []
    utterance = Utterance(Stream(), events.append, max_seconds=1.0, endpoint=EndpointSettings())
    for frame in frames(0.3, 0) + frames(3.0, 8000):
        utterance.audio(frame)
    await until(events, RESULT)
    assert [e["type"] for e in events] == [STARTED, RESULT]
    await utterance.close()
