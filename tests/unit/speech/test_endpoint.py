import math
from array import array

from hotline.speech.endpoint import Endpointer, EndpointSettings, level

RATE = 8000
FRAME = 160  # 20 ms


def tone(seconds: float, amplitude: int = 8000) -> list[bytes]:
    frames = []
    for start in range(0, int(seconds * RATE), FRAME):
        samples = array(
            "h",
            (
                int(amplitude * math.sin(2 * math.pi * 440 * (start + i) / RATE))
                for i in range(FRAME)
            ),
        )
        frames.append(samples.tobytes())
    return frames


def quiet(seconds: float, amplitude: int = 0) -> list[bytes]:
    return tone(seconds, amplitude)


def feed(endpointer: Endpointer, frames: list[bytes]) -> list[str]:
    return [change for frame in frames if (change := endpointer.update(frame))]


def test_level_of_silence_and_full_scale():
    assert level(bytes(320)) == -100.0
    assert -4 < level(tone(0.02, 32767)[0]) < -2  # a full-scale sine is -3 dBFS


def test_speech_starts_then_ends_after_the_configured_silence():
    endpointer = Endpointer(RATE, EndpointSettings(end_silence=0.3))
    assert feed(endpointer, quiet(0.5)) == []
    assert feed(endpointer, tone(0.6)) == ["started"]
    assert feed(endpointer, quiet(0.2)) == []  # a pause between words
    assert feed(endpointer, tone(0.2)) == []
    assert feed(endpointer, quiet(0.4)) == ["ended"]
    assert endpointer.started_at is not None and abs(endpointer.started_at - 0.5) < 0.03
    assert endpointer.ended_at is not None and abs(endpointer.ended_at - 1.5) < 0.03
    assert feed(endpointer, tone(0.5)) == []  # one utterance per endpointer


def test_a_click_is_cancelled_not_an_utterance():
    endpointer = Endpointer(RATE, EndpointSettings(min_speech=0.12))
    assert feed(endpointer, quiet(0.2) + tone(0.08) + quiet(0.4)) == ["started", "cancelled"]
    assert not endpointer.speaking
    assert feed(endpointer, tone(0.5) + quiet(0.5)) == ["started", "ended"]


def test_steady_noise_raises_the_threshold():
    endpointer = Endpointer(RATE)
    hiss = quiet(2.0, amplitude=600)  # about -38 dBFS: above the fixed minimum level
    assert feed(endpointer, hiss) == []
    assert endpointer.threshold() > -38
    assert feed(endpointer, tone(0.5)) == ["started"]
