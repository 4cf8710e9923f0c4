"""What a live transcript's recogniser was given, written to a WAV file per call (the
`speech.debug_audio` folder; off by default): for an operator who wants to hear why a
call was transcribed wrong, and for comparing with what the caller sent."""

from __future__ import annotations

import logging
import time
import wave
from pathlib import Path

log = logging.getLogger(__name__)


class AudioDump:
    """16-bit mono PCM appended to `<folder>/<UTC time>-<name>.wav` as it comes."""

    def __init__(self, folder: Path, name: str, sample_rate: int) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.path = folder / f"{stamp}-{name}.wav"
        self._file: wave.Wave_write | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._file = wave.open(str(self.path), "wb")  # noqa: SIM115  (open for the call)
            self._file.setnchannels(1)
            self._file.setsampwidth(2)
            self._file.setframerate(sample_rate)
        except OSError as error:  # a debugging aid must never break the call
            log.warning("cannot write the call's audio to %s: %s", self.path, error)
            self._file = None

    def write(self, pcm: bytes) -> None:
        if self._file is None:
            return
        try:
            self._file.writeframesraw(pcm)
        except OSError as error:
            log.warning("cannot write the call's audio to %s: %s", self.path, error)
            self.close()

    def close(self) -> None:
        """Finish the file (its header gets the length); later writes are ignored."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as error:
                log.warning("cannot finish %s: %s", self.path, error)
