"""Where the controller's CPU went: a summary of py-spy's collapsed stacks.

    python bench/profile_top.py STACKS.txt [--top 25] [--filter WORD]

STACKS.txt is `py-spy record --format raw` output (bench_sipp_load.py --profile writes
one per step): one line per distinct stack, frames separated by ';', then a space and
how many samples had it. Prints the functions by own samples (where the time is spent)
and by inclusive samples (what it is spent for), as a percent of every sample; idle
samples (the event loop waiting in select/epoll) are counted apart.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

#: A stack whose innermost frame is one of these is the event loop waiting: not CPU.
IDLE = re.compile(r"\b(select|poll|epoll_wait|_run_once) \(selectors\.py|\(selectors\.py")


def frame_name(frame: str) -> str:
    """'function (path/to/file.py:123)' -> 'function (file.py)'; lines are dropped so a
    function's samples add up."""
    match = re.match(r"(.*) \((.*?):\d+\)$", frame.strip())
    if not match:
        return frame.strip()
    name, path = match.groups()
    return f"{name} ({'/'.join(Path(path).parts[-2:])})"


def summarise(lines: list[str], word: str | None) -> tuple[Counter[str], Counter[str], int, int]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = idle = 0
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        if IDLE.search(stack.split(";")[-1]):
            idle += n
            continue
        if word and not any(word in f for f in frames):
            continue
        own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    return own, inclusive, total, idle


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--filter", default=None, help="only stacks with a frame naming WORD")
    args = parser.parse_args()
    own, inclusive, total, idle = summarise(args.stacks.read_text().splitlines(), args.filter)
    if not total:
        print("no samples")
        return 1
    busy = total - idle
    print(f"{total} samples, {idle} idle ({100 * idle / total:.0f} %), {busy} busy\n")
    for title, counts in (("own", own), ("inclusive", inclusive)):
        print(f"-- by {title} samples (% of busy)")
        for name, n in counts.most_common(args.top):
            print(f"{100 * n / max(1, busy):6.1f} %  {name}")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
