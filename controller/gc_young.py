"""How often the controller's garbage collector looks at young objects.

CPython collects its youngest generation each time 700 more container objects have
been made than freed. A controller under call load makes and frees thousands a second
(events, tasks, futures, dicts of each request), so the collector ran several times a
second, each run walking whatever was young, promoting the survivors into the next
generation, which every tenth run walked again (docs/benchmarks.md, "Session 10").
`hotline/gc_pauses.py` already collects the young generations once a second and
freezes what survives, so a threshold above a second's worth of allocations leaves
that work to it: one young collection a second instead of several, and the objects a
call frees within the second (most of them) are never walked at all.

Reference cycles that become garbage wait up to that second (or until the threshold)
to be freed: a few more kilobytes held, never a leak.
"""

from __future__ import annotations

import gc
import os

#: Net container allocations between automatic young collections (CPython: 700).
YOUNG = 50_000
#: The environment variable that overrides YOUNG (700: CPython's own, to compare).
VARIABLE = "HOTLINE_GC_YOUNG"
#: Young collections between collections of the middle generation (CPython: 10).
MIDDLE = 10
#: Middle collections between full collections (CPython: 10; the full ones also wait
#: for the old generation to grow by a quarter, and `GcPauses` freezes it anyway).
OLD = 10


def tune(young: int = YOUNG, middle: int = MIDDLE, old: int = OLD) -> tuple[int, int, int]:
    """Set the collector's thresholds; the ones they replace (to put back)."""
    if young < 1 or middle < 1 or old < 1:
        raise ValueError(f"gc thresholds must be >= 1, got {(young, middle, old)}")
    before = gc.get_threshold()
    gc.set_threshold(young, middle, old)
    return before[0], before[1], before[2]


def restore(thresholds: tuple[int, int, int]) -> None:
    """Put back thresholds `tune` replaced."""
    gc.set_threshold(*thresholds)


def young_from(environ: dict[str, str] | os._Environ[str] = os.environ) -> int:
    """YOUNG, or the environment's `HOTLINE_GC_YOUNG` (a whole number >= 1)."""
    text = environ.get(VARIABLE, "").strip()
    if not text:
        return YOUNG
    try:
        young = int(text)
    except ValueError:
        young = 0
    if young < 1:
        raise ValueError(f"{VARIABLE}={text!r}: expected a whole number >= 1 (or unset)")
    return young
