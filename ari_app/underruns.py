"""The snoop's made-up silence taken back out of a caller's audio.

Asterisk's snoop channel (ari_app/speech.py's `CallAudio`) sends a 20 ms frame on its
own timer, whatever the caller's phone does: at a tick when the caller's next frame has
not arrived yet (the phone's RTP jitters, or a loaded machine runs the caller's thread
late) it sends a frame of digital silence instead, and the caller's frame follows a
tick later. The recogniser then hears gaps inside words ("안녕하세요 인터넷이 안 돼요"
was heard as "안 요금 돼요 카드 안 돼요" on a loaded machine; docs/speech.md), and a gap
as long as the end-pointer's silence cuts an utterance in two.

A caller's line is not digitally silent while they talk (a phone's microphone hisses),
so a short run of frames that are all exactly zero, with the caller's sound on both
sides, is the snoop's: `Underruns` holds such frames back and drops them when sound
follows within `hold` seconds. A longer run is real silence (the caller stopped, or
their phone sends nothing while they are quiet): it is passed on, `hold` late.
"""

from __future__ import annotations

#: The longest run of digital silence taken to be the snoop's (seconds). Asterisk's
#: audiohook drops a backlog of its own past 0.5 s, so a snoop's gap is shorter.
HOLD_SECONDS = 0.5


def digital_silence(pcm: bytes) -> bool:
    """Whether 16-bit PCM is all zero samples."""
    return not pcm.strip(b"\x00")


class Underruns:
    """Feed the caller's frames in order; `take` returns those to hear now."""

    def __init__(self, sample_rate: int, hold: float = HOLD_SECONDS) -> None:
        self.hold_bytes = int(hold * sample_rate) * 2
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._passing = True  # no sound heard yet, or the held run was real silence
        self.dropped = 0  # frames of the snoop's silence taken out
        self.dropped_runs = 0

    def take(self, pcm: bytes) -> list[bytes]:
        if not digital_silence(pcm):
            held, self._held, self._held_bytes = self._held, [], 0
            self._passing = False
            if held:  # sound again within `hold`: the run was the snoop's
                self.dropped += len(held)
                self.dropped_runs += 1
            return [pcm]
        if self._passing:
            return [pcm]
        self._held.append(pcm)
        self._held_bytes += len(pcm)
        if self._held_bytes < self.hold_bytes:
            return []
        held, self._held, self._held_bytes = self._held, [], 0
        self._passing = True  # real silence: heard (late), and what follows at once
        return held

    def reset(self) -> None:
        """The audio stops (the call is on hold): what is held is dropped."""
        self._held, self._held_bytes = [], 0
        self._passing = True
