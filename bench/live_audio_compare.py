"""What a live transcript's recogniser got against what the caller sent, frame by frame.

    python bench/live_audio_compare.py CALLER.ul LIVE.wav

CALLER.ul is the caller's audio as raw 8 kHz mu-law (an e2e test's SIPp caller keeps
it in <workdir>/sipp/caller-<number>/speech.ul); LIVE.wav is the file `speech.debug_audio`
wrote for the call. Prints how many of the caller's 20 ms frames are missing from the
WAV, out of order, or have frames of digital silence between them that the caller did
not send (a snoop channel's, docs/speech.md); exits 1 when any is found.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import wave
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ari_app.media import ULAW  # noqa: E402

FRAME = 160  # samples: 20 ms at 8 kHz


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + 2 * FRAME] for i in range(0, len(pcm) - 2 * FRAME + 1, 2 * FRAME)]


def compare(sent: list[bytes], heard: list[bytes]) -> dict[str, list[int]]:
    """Of the caller's frames (by index): missing, out of order, and those with made-up
    silence before them in what was heard."""
    silence = bytes(2 * FRAME)
    index = {frame: n for n, frame in reversed(list(enumerate(sent)))}
    found: list[int | None] = [None if f == silence else index.get(f, -1) for f in heard]
    seen = [n for n in found if n is not None and n >= 0]
    report: dict[str, list[int]] = {"missing": [], "out_of_order": [], "silence_before": []}
    report["missing"] = sorted(
        set(range(len(sent))) - set(seen) - {n for n, f in enumerate(sent) if f == silence}
    )
    report["out_of_order"] = [b for a, b in itertools.pairwise(seen) if b <= a]
    zeros, last = 0, None
    for n in found:
        if n is None:
            zeros += 1
            continue
        if n >= 0 and last is not None:
            sent_zeros = sum(1 for k in range(last + 1, n) if sent[k] == silence)
            if zeros > sent_zeros:
                report["silence_before"].append(n)
        zeros, last = 0, (n if n >= 0 else last)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("caller", type=Path, help="the caller's audio, raw 8 kHz mu-law")
    parser.add_argument("live", type=Path, help="the live transcript's debug WAV")
    args = parser.parse_args()
    sent = frames(array("h", [ULAW[b] for b in args.caller.read_bytes()]).tobytes())
    with wave.open(str(args.live)) as audio:
        heard = frames(audio.readframes(audio.getnframes()))
    report = compare(sent, heard)
    print(f"caller's frames: {len(sent)}; frames heard: {len(heard)}")
    for name, where in report.items():
        print(f"{name.replace('_', ' ')}: {len(where)} {where[:20]}")
    sys.exit(1 if any(report.values()) else 0)


if __name__ == "__main__":
    main()
