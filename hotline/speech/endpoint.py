"""When the caller starts and stops talking, from the audio's energy.

Start of speech stops the prompt (barge-in); end of speech — a short stretch of
silence after enough speech — ends the utterance, so the answer is acted on at once
rather than after the recogniser's own, longer, end-pointing. The threshold follows
the line's noise floor, so a hiss does not count as talking.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Literal

#: "cancelled": what started was a click or a cough, not speech.
Change = Literal["started", "ended", "cancelled"] | None


@dataclass(frozen=True)
class EndpointSettings:
    #: Loudness (dBFS) above which a frame may be speech, whatever the noise floor.
    min_level: float = -42.0
    #: How far above the noise floor speech must be (dB).
    above_noise: float = 12.0
    #: Speech this long starts an utterance (barge-in).
    start_seconds: float = 0.06
    #: Silence this long after speech ends it.
    end_silence: float = 0.25
    #: An utterance shorter than this is a click or a cough: ignored.
    min_speech: float = 0.12
    #: The first audio only measures the line's noise (no start of speech yet).
    calibrate_seconds: float = 0.2


def level(pcm: bytes) -> float:
    """The RMS level of 16-bit PCM in dBFS (-100 for digital silence)."""
    samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
    if not samples:
        return -100.0
    power = sum(s * s for s in samples) / len(samples)
    return 10 * math.log10(power / (32768.0**2)) if power > 0 else -100.0


class Endpointer:
    """Feed frames in order; `update` says when speech started or ended."""

    def __init__(self, sample_rate: int, settings: EndpointSettings | None = None) -> None:
        self.sample_rate = sample_rate
        self.settings = settings or EndpointSettings()
        self.noise = -70.0  # dBFS, adapted while nobody talks
        self.speaking = False
        self.ended = False
        self._loud = 0.0  # seconds of consecutive loud audio (before the start)
        self._speech = 0.0  # seconds of speech since the start
        self._quiet = 0.0  # seconds of consecutive silence since the start
        #: Seconds into the stream where speech started and ended (None until then).
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self._clock = 0.0

    def threshold(self) -> float:
        return max(self.settings.min_level, self.noise + self.settings.above_noise)

    def update(self, pcm: bytes) -> Change:
        seconds = len(pcm) / 2 / self.sample_rate
        db = level(pcm)
        loud = db >= self.threshold()
        self._clock += seconds
        s = self.settings
        if self.ended:
            return None
        if self._clock <= s.calibrate_seconds:
            self.noise += 0.5 * (db - self.noise)
            return None
        if not self.speaking:
            if loud:
                self._loud += seconds
                if self._loud >= s.start_seconds:
                    self.speaking = True
                    self._speech, self._quiet = self._loud, 0.0
                    self.started_at = self._clock - self._loud
                    return "started"
            else:
                self._loud = 0.0
                # Follow the floor down quickly, up slowly (speech must not raise it).
                rate = 0.3 if db < self.noise else 0.05
                self.noise += rate * (db - self.noise)
            return None
        if loud:
            self._speech += seconds + self._quiet
            self._quiet = 0.0
            return None
        self._quiet += seconds
        if self._quiet >= s.end_silence:
            if self._speech < s.min_speech:  # a click: back to waiting
                self.speaking, self._loud, self._speech = False, 0.0, 0.0
                self.started_at = None
                return "cancelled"
            self.ended = True
            self.ended_at = self._clock - self._quiet
            return "ended"
        return None
