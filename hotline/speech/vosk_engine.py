"""The Vosk engine: one model per language (a directory), a bounded thread pool, and
slots that refuse at once when full, so a busy recogniser degrades calls to keys
instead of stalling them.

Vosk's C calls release the GIL, so threads run recognitions in parallel and share
each loaded model (a model is read-only once loaded; recognisers are per stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import wave
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hotline.speech.recogniser import Recognition, SpeechUnavailable, Word

log = logging.getLogger(__name__)

#: Audio one stream may have waiting for a worker before it is given up as too slow.
MAX_BACKLOG_SECONDS = 2.0
#: Audio is given to Vosk in pieces of this many bytes (0.2 s at 8 kHz), however it
#: arrived: a loaded machine batches a stream's frames differently from one call to
#: the next, and Vosk checks its own end-of-speech rules once per piece, so how the
#: audio is cut must not depend on the machine's load (docs/speech.md).
PIECE_BYTES = 3200


async def _in_daemon_thread(function: Any, *args: Any) -> Any:
    """function(*args) on a daemon thread of its own: loading a model takes seconds, and
    a process told to stop must not wait at exit for a model nobody will use (a pool's
    threads are joined at exit)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def run() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = function(*args)
        except BaseException as failure:
            error = failure
        # The loop may have closed while the model loaded: then nobody waits for it.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="speech-load", daemon=True).start()
    return await done


def _vosk() -> Any:
    import vosk  # imported late: loading the library costs time nobody without speech pays

    vosk.SetLogLevel(-1)
    return vosk


def _load_model(path: Path) -> Any:
    return _vosk().Model(str(path))


def check_model_dir(path: Path) -> str | None:
    """Why `path` is not a Vosk model directory, or None if it looks like one."""
    if not path.is_dir():
        return f"{path} is not a directory"
    if not (path / "am").is_dir() or not (path / "conf").is_dir():
        return f"{path} is not a Vosk model (no am/ and conf/ folders)"
    return None


def recognition(result: dict[str, Any]) -> Recognition:
    """A Vosk JSON result as a Recognition; confidence is the least sure word's."""
    words = tuple(
        Word(w["word"], float(w["start"]), float(w["end"]), float(w.get("conf", 0.0)))
        for w in result.get("result", [])
    )
    text = " ".join(w.text for w in words) or result.get("text", "")
    confidence = min((w.confidence for w in words), default=0.0) if text else 0.0
    return Recognition(text=text, confidence=round(confidence, 3), words=words)


class VoskRecogniser:
    """Models per language; at most `max_streams` utterances at once, `workers`
    threads for them, one more thread for transcripts (long, and never urgent)."""

    def __init__(
        self,
        models: Mapping[str, Path],
        *,
        max_streams: int = 8,
        workers: int = 2,
        sample_rate: int = 8000,
    ) -> None:
        self.model_dirs = dict(models)
        self.max_streams = max_streams
        self.sample_rate = sample_rate
        self.active = 0
        self._models: dict[str, Any] = {}
        self._failed: dict[str, str] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="speech")
        self._transcripts = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transcript")

    def languages(self) -> frozenset[str]:
        return frozenset(self.model_dirs)

    @property
    def loaded(self) -> frozenset[str]:
        return frozenset(self._models)

    async def load(self) -> None:
        """Load every model off the event loop (seconds each); a model that fails is
        logged and its language answers with keys."""
        for language, path in self.model_dirs.items():
            started = time.monotonic()
            try:
                problem = check_model_dir(path)
                if problem:
                    raise ValueError(problem)
                self._models[language] = await _in_daemon_thread(_load_model, path)
            except Exception as error:  # a broken model must not stop the hotline
                self._failed[language] = str(error)
                log.error("speech model for %r failed to load: %s", language, error)
                continue
            log.info(
                "speech model %r loaded from %s in %.1fs",
                language,
                path,
                time.monotonic() - started,
            )

    def _model(self, language: str) -> Any:
        model = self._models.get(language)
        if model is not None:
            return model
        if language not in self.model_dirs:
            raise SpeechUnavailable("no_model", language)
        if language in self._failed:
            raise SpeechUnavailable("failed", self._failed[language])
        raise SpeechUnavailable("loading", language)

    def stream(self, language: str, phrases: Sequence[str] | None) -> VoskStream:
        model = self._model(language)
        if self.active >= self.max_streams:
            raise SpeechUnavailable("busy", f"{self.active} recognitions running")
        self.active += 1
        grammar = json.dumps(list(phrases), ensure_ascii=False) if phrases is not None else None
        return VoskStream(self, model, grammar)

    def stream_closed(self) -> None:
        """A stream of this recogniser's is closed: its place in the pool is free."""
        self.active -= 1

    async def transcribe(self, language: str, wav: Path) -> Recognition:
        model = self._model(language)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._transcripts, _transcribe_file, model, wav)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._transcripts.shutdown(wait=False, cancel_futures=True)


def _transcribe_file(model: Any, path: Path) -> Recognition:
    with wave.open(str(path)) as audio:
        if audio.getnchannels() != 1 or audio.getsampwidth() != 2:
            raise ValueError(f"{path.name}: expected mono 16-bit PCM WAV")
        recogniser = _vosk().KaldiRecognizer(model, audio.getframerate())
        recogniser.SetWords(True)
        words: list[Word] = []
        texts: list[str] = []
        while chunk := audio.readframes(4000):
            if recogniser.AcceptWaveform(chunk):
                part = recognition(json.loads(recogniser.Result()))
                words += part.words
                texts += [part.text] if part.text else []
        last = recognition(json.loads(recogniser.FinalResult()))
        words += last.words
        texts += [last.text] if last.text else []
    confidence = min((w.confidence for w in words), default=0.0)
    return Recognition(" ".join(texts), round(confidence, 3), tuple(words))


class VoskStream:
    """One utterance: its audio goes to a worker in order, one batch at a time (a
    Kaldi recogniser is not for two threads at once)."""

    def __init__(self, engine: VoskRecogniser, model: Any, grammar: str | None) -> None:
        self.engine = engine
        self.model = model
        self.grammar = grammar
        self._recogniser: Any = None
        self._carry = b""  # less than a piece, waiting for more (worker thread only)
        self._heard: list[Recognition] = []  # what Vosk ended by itself (worker thread only)
        self._pending: list[bytes] = []
        self._queued = 0.0  # seconds of audio fed, not yet processed
        self._drain: asyncio.Task[None] | None = None
        self._open = True

    def _make(self) -> Any:
        vosk = _vosk()
        rate = self.engine.sample_rate
        recogniser = (
            vosk.KaldiRecognizer(self.model, rate, self.grammar)
            if self.grammar is not None
            else vosk.KaldiRecognizer(self.model, rate)
        )
        recogniser.SetWords(True)
        return recogniser

    def _accept(self, pcm: bytes) -> None:
        if self._recogniser is None:
            self._recogniser = self._make()
        audio = self._carry + pcm
        whole = len(audio) - len(audio) % PIECE_BYTES
        for start in range(0, whole, PIECE_BYTES):
            self._piece(audio[start : start + PIECE_BYTES])
        self._carry = audio[whole:]

    def _piece(self, pcm: bytes) -> None:
        if self._recogniser.AcceptWaveform(pcm):  # Vosk's own end of speech: keep it
            self._heard.append(recognition(json.loads(self._recogniser.Result())))

    async def feed(self, pcm: bytes) -> None:
        if not self._open:
            return
        seconds = len(pcm) / 2 / self.engine.sample_rate
        if self._queued + seconds > MAX_BACKLOG_SECONDS:
            await self.close()
            raise SpeechUnavailable("slow", f"{self._queued:.1f}s of audio waiting")
        self._queued += seconds
        self._pending.append(pcm)
        if self._drain is None:
            self._drain = asyncio.create_task(self._work())

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = b"".join(self._pending)
            self._pending.clear()
            await loop.run_in_executor(self.engine._pool, self._accept, batch)
            self._queued -= len(batch) / 2 / self.engine.sample_rate
        self._drain = None

    async def finish(self) -> Recognition:
        if not self._open:
            raise SpeechUnavailable("failed", "the stream was closed")
        try:
            if self._drain is not None:
                await self._drain
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.engine._pool, self._final)
        finally:
            await self.close()

    def _final(self) -> Recognition:
        if self._recogniser is None:
            return Recognition("", 0.0)
        if self._carry:
            self._piece(self._carry)
            self._carry = b""
        parts = [*self._heard, recognition(json.loads(self._recogniser.FinalResult()))]
        parts = [part for part in parts if part.text]
        if len(parts) <= 1:
            return parts[0] if parts else Recognition("", 0.0)
        words = tuple(word for part in parts for word in part.words)
        confidence = min(part.confidence for part in parts)
        return Recognition(" ".join(part.text for part in parts), confidence, words)

    async def close(self) -> None:
        if self._open:
            self._open = False
            self._pending.clear()
            self.engine.stream_closed()
