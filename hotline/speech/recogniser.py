"""The recogniser interface: what the voice runtime and the transcriber need from a
speech engine, so another engine can sit beside (or replace) Vosk.

Audio is 16-bit signed little-endian mono PCM at the engine's `sample_rate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

#: Why speech cannot be used right now; the caller answers with keys instead.
UnavailableReason = Literal["busy", "no_model", "loading", "failed", "slow"]


class SpeechUnavailable(Exception):
    """The recogniser cannot take this request now (every slot in use, no model for
    the language, models still loading, or it failed); fall back to keys."""

    def __init__(self, reason: UnavailableReason, detail: str = "") -> None:
        super().__init__(f"speech unavailable: {reason}{': ' + detail if detail else ''}")
        self.reason: UnavailableReason = reason


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds from the start of the audio
    end: float
    confidence: float


@dataclass(frozen=True)
class Recognition:
    """What was said: the text, and how sure the engine is (0..1, the least sure
    word; 0 when nothing was recognised)."""

    text: str
    confidence: float
    words: tuple[Word, ...] = ()


class RecognitionStream(Protocol):
    """One utterance being recognised as it arrives; holds a slot until finished or
    closed."""

    async def feed(self, pcm: bytes) -> None:
        """More audio (raises SpeechUnavailable("slow") when the engine lags)."""

    async def finish(self) -> Recognition:
        """The end of the utterance: the final result. Frees the slot."""

    async def close(self) -> None:
        """Abandon the utterance (the caller pressed a key, hung up). Frees the slot."""


class Recogniser(Protocol):
    sample_rate: int

    def languages(self) -> frozenset[str]:
        """Languages with a model configured."""

    def stream(self, language: str, phrases: Sequence[str] | None) -> RecognitionStream:
        """Start recognising one utterance, restricted to `phrases` (any sequence of
        them) or, with None, the model's whole vocabulary. Raises SpeechUnavailable at
        once when every slot is busy: never waits for one."""

    async def transcribe(self, language: str, wav: Path) -> Recognition:
        """Transcribe a recorded WAV file (any rate, mono 16-bit) with the whole
        vocabulary, off the event loop."""

    async def close(self) -> None:
        """Stop the workers."""
