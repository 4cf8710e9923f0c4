"""The shortened soak (`make test`): half a minute of steady concurrent calls through a
queue with music, announcements and recording; nothing fails, nothing is left behind.

The full soak (30 minutes at 200 concurrent) is `python bench/bench_soak.py`; this runs
the same harness (bench/bench_soak.py) small: 40 callers at a time, 10 agents.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_soak import soak

pytestmark = pytest.mark.e2e


def test_half_a_minute_of_concurrent_calls_leaks_nothing(tmp_path: Path) -> None:
    result = soak(tmp_path, seconds=30, concurrent=40, agents=10, talk=3, progress=print)
    assert result.problems == [], f"{result}\n{result.errors}"
    assert result.calls >= 75 and result.peak_channels >= 40
    print(
        f"\nshort soak: {result.ok} calls, peak {result.peak_channels} channels, controller "
        f"{result.rss_first_third:.0f} -> {result.rss_last_third:.0f} MB, "
        f"fds {result.fds}, health p99 {result.health_ms['p99']:.0f} ms"
    )
