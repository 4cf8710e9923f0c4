"""A spoken answer's audio with the snoop's made-up silence in it (ari_app/underruns.py):
a gap inside a word, longer than the end-pointer's silence, no longer ends the answer
in the middle of the word (a digit was heard as '' on a loaded machine); a real pause
still ends it."""

import asyncio

from ari_app.speech import RESULT, STARTED, Utterance
from ari_app.underruns import Underruns
from hotline.speech.endpoint import EndpointSettings
from tests.unit.speech.test_utterance import Stream, frames, until


def answer(underruns: Underruns | None) -> tuple[Utterance, Stream, list]:
    events: list = []
    stream = Stream()
    utterance = Utterance(
        stream, events.append, max_seconds=5, endpoint=EndpointSettings(), underruns=underruns
    )
    return utterance, stream, events


async def test_a_gap_of_the_snoop_inside_a_word_is_taken_out() -> None:
    utterance, stream, events = answer(Underruns(8000))
    first, second = frames(0.3, 8000), frames(0.3, 6000)
    gap = frames(0.3, 0)  # longer than end_silence (0.25 s), shorter than 0.5 s
    for frame in frames(0.3, 0) + first + gap + second + frames(0.8, 0):
        utterance.audio(frame)
    await until(events, RESULT)
    assert [e["type"] for e in events] == [STARTED, RESULT]  # one answer, not two
    assert first[-1] + second[0] in stream.fed  # the word whole, the gap out
    assert utterance.underruns is not None and utterance.underruns.dropped == len(gap)
    await utterance.close()


async def test_without_the_filter_the_same_gap_cuts_the_word() -> None:
    utterance, stream, events = answer(None)
    first, second = frames(0.3, 8000), frames(0.3, 6000)
    for frame in frames(0.3, 0) + first + frames(0.3, 0) + second:
        utterance.audio(frame)
    await until(events, RESULT)
    assert b"".join(second) not in stream.fed  # what the caller said after it is lost
    await utterance.close()


async def test_a_real_pause_still_ends_the_answer() -> None:
    utterance, stream, events = answer(Underruns(8000))
    word = frames(0.4, 8000)
    for frame in frames(0.3, 0) + word + frames(0.8, 0):
        utterance.audio(frame)
    await until(events, RESULT)
    assert [e["type"] for e in events] == [STARTED, RESULT]
    assert b"".join(word) in stream.fed
    await asyncio.sleep(0)
    await utterance.close()
