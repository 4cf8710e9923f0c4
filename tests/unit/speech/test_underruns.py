"""The snoop's made-up silence (a 20 ms frame of zeros at a tick the caller's frame
was late for) is taken out between the caller's sounds; real silence is kept."""

from ari_app.underruns import Underruns, digital_silence

RATE = 8000
ZERO = bytes(320)
SOUND = b"\x01\x00" * 160


def feed(underruns: Underruns, frames: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for frame in frames:
        out += underruns.take(frame)
    return out


def test_digital_silence_is_every_sample_zero():
    assert digital_silence(ZERO) and digital_silence(b"")
    assert not digital_silence(SOUND) and not digital_silence(bytes(319) + b"\x01")


def test_a_short_gap_between_sounds_is_taken_out():
    underruns = Underruns(RATE, hold=0.5)
    out = feed(underruns, [SOUND, ZERO, ZERO, SOUND, ZERO, SOUND])
    assert out == [SOUND, SOUND, SOUND]
    assert (underruns.dropped, underruns.dropped_runs) == (3, 2)


def test_silence_before_the_first_sound_passes_at_once():
    underruns = Underruns(RATE, hold=0.5)
    assert feed(underruns, [ZERO] * 3) == [ZERO] * 3
    assert feed(underruns, [SOUND]) == [SOUND] and underruns.dropped == 0


def test_a_long_silence_is_real_and_passes_late_then_at_once():
    underruns = Underruns(RATE, hold=0.1)  # 5 frames
    assert feed(underruns, [SOUND] + [ZERO] * 4) == [SOUND]  # held
    assert underruns.take(ZERO) == [ZERO] * 5  # the 5th: real silence, all of it
    assert underruns.take(ZERO) == [ZERO]  # and what follows, at once
    assert feed(underruns, [SOUND, ZERO, SOUND]) == [SOUND, SOUND]  # a new gap is held
    assert underruns.dropped == 1


def test_reset_drops_what_is_held_and_passes_the_next_silence():
    underruns = Underruns(RATE, hold=0.5)
    assert feed(underruns, [SOUND, ZERO, ZERO]) == [SOUND]
    underruns.reset()
    assert underruns.take(ZERO) == [ZERO]
    assert underruns.dropped == 0
