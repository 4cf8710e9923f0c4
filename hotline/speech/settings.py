"""The `speech:` section of config/hotline.yaml: models per language, how sure an
answer must be, how many recognitions run at once, and what transcripts look for."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

Language = Annotated[str, Field(pattern=r"^[a-z]{2}$")]
FlagName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Phrase = Annotated[str, Field(min_length=1, max_length=200)]
#: Keyword flags that apply to every queue (and to recordings outside queues).
ALL_QUEUES = "*"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SentimentPhrases(Section):
    """Phrases that count towards a positive or a negative transcript."""

    positive: list[Phrase] = []
    negative: list[Phrase] = []


class SpeechConfig(Section):
    #: language -> a Vosk model directory (relative paths: from the project folder).
    models: dict[Language, str] = {}
    #: Spoken answers below this confidence (0..1) are not taken (nodes may override).
    min_confidence: float = Field(0.6, ge=0, le=1)
    #: Recognitions running at once; one more finds the recogniser busy and the caller
    #: answers with keys (measured: bench/bench_speech.py).
    max_streams: int = Field(8, ge=1, le=256)
    #: Threads recognising (Vosk releases the GIL while it works).
    workers: int = Field(2, ge=1, le=64)
    #: Silence that ends an utterance (seconds): shorter acts sooner, longer waits
    #: out the pauses between words.
    end_silence: float = Field(0.25, ge=0.1, le=3)
    #: The longest utterance listened to (seconds).
    max_seconds: float = Field(6.0, ge=1, le=30)
    #: Where Asterisk sends callers' audio (ARI external media): this controller's
    #: address as Asterisk reaches it; port 0 takes a free one.
    media_host: str = "127.0.0.1"
    media_port: int = Field(0, ge=0, le=65535)
    #: Transcribe saved recordings (in the contact's language, if it has a model).
    transcribe: bool = True
    #: queue (or "*" for all) -> flag -> phrases: a transcript saying one of them is
    #: flagged ({support: {cancel: [cancel, 해지]}, "*": {complaint: [complaint]}}).
    keywords: dict[str, dict[FlagName, list[Phrase]]] = {}
    #: Queues (or "*" for all) whose conversations with agents are transcribed live
    #: for the agent's desk, in the caller's language if it has a model (default: none).
    live_transcripts: list[str] = []
    #: language -> the words and phrases the live recogniser listens for (say them as the
    #: model spells them: a word it does not know is dropped); none: free-form, the
    #: model's whole vocabulary (far more CPU, see docs/speech.md).
    live_phrases: dict[Language, list[Phrase]] = {}
    #: A folder (relative: from the project folder) where each live-transcribed call's
    #: audio, as the recogniser received it, is written as a WAV file: for finding out
    #: why a call was heard wrong. Off by default (the files hold what callers said).
    debug_audio: str | None = Field(None, min_length=1)
    #: language -> phrases for the sentiment score of transcripts (-1..1).
    sentiment: dict[Language, SentimentPhrases] = {}

    @field_validator("media_host")
    @classmethod
    def _ip(cls, value: str) -> str:
        ip_address(value)
        return value

    def model_dirs(self, home: Path) -> dict[str, Path]:
        """Model directories as paths, relative ones from `home`."""
        return {lang: home / Path(path).expanduser() for lang, path in self.models.items()}

    def unknown_queues(self, queues: set[str]) -> list[str]:
        """Keyword queues that are not configured queues."""
        return sorted(q for q in self.keywords if q != ALL_QUEUES and q not in queues)

    def unknown_live_queues(self, queues: set[str]) -> list[str]:
        """Live transcript queues that are not configured queues."""
        return sorted({q for q in self.live_transcripts if q != ALL_QUEUES and q not in queues})

    def transcribes_live(self, queue: str) -> bool:
        """Whether `queue`'s conversations are transcribed live."""
        return ALL_QUEUES in self.live_transcripts or queue in self.live_transcripts
