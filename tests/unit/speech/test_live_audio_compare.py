"""bench/live_audio_compare.py: the caller's frames against what the recogniser got."""

from bench.live_audio_compare import compare

SILENCE = bytes(320)


def frame(n: int) -> bytes:
    return bytes([n + 1]) * 320


def test_the_same_frames_in_order_are_clean_and_the_callers_own_silence_counts_as_sent():
    sent = [frame(0), SILENCE, frame(2)]
    heard = [SILENCE, frame(0), SILENCE, frame(2), SILENCE]
    assert compare(sent, heard) == {"missing": [], "out_of_order": [], "silence_before": []}


def test_missing_out_of_order_and_made_up_silence_are_named():
    sent = [frame(n) for n in range(5)]
    heard = [frame(0), SILENCE, SILENCE, frame(1), frame(3), frame(2)]
    assert compare(sent, heard) == {
        "missing": [4],
        "out_of_order": [2],
        "silence_before": [1],
    }
