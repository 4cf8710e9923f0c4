"""The end-of-run summary of time per worker and module (tests/module_times.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.module_times import ModuleTimes


def report(nodeid: str, duration: float, worker: str | None) -> pytest.TestReport:
    made = pytest.TestReport(nodeid, ("x", 1, nodeid), {}, "passed", None, "call", [], duration)
    if worker is not None:  # xdist's controller sets the worker that ran it
        made.node = SimpleNamespace(gateway=SimpleNamespace(id=worker))  # type: ignore[attr-defined]
    return made


def test_modules_and_workers_are_summed_and_dated_from_the_first_test() -> None:
    times = ModuleTimes()
    times.add(report("tests/e2e/test_a.py::one", 2.0, "gw0"), now=102.0)  # began at 100
    times.add(report("tests/e2e/test_a.py::two", 3.0, "gw0"), now=105.0)
    times.add(report("tests/unit/test_b.py::one", 1.0, "gw1"), now=101.5)
    lines = times.lines()
    assert lines[:3] == [
        "workers (finished at, busy):",
        "  gw0:     5.0 s      5.0 s",
        "  gw1:     1.5 s      1.0 s",
    ]
    assert lines[3] == "slowest 2 modules (time, worker, from - to):"
    assert lines[4].split() == ["5.0", "s", "gw0", "0.0", "-", "5.0", "tests/e2e/test_a.py"]
    assert lines[5].split() == ["1.0", "s", "gw1", "0.5", "-", "1.5", "tests/unit/test_b.py"]


def test_a_serial_run_is_one_worker_and_the_list_is_cut() -> None:
    times = ModuleTimes()
    for n in range(5):
        times.add(report(f"tests/unit/test_{n}.py::t", float(n + 1), None), now=10.0 * (n + 1))
    lines = times.lines(shown=2)
    assert lines[1].split()[0] == "main:"
    assert lines[2] == "slowest 2 modules (time, worker, from - to):"
    assert [line.split()[-1] for line in lines[3:]] == [
        "tests/unit/test_4.py",
        "tests/unit/test_3.py",
    ]


def test_nothing_run_says_nothing() -> None:
    assert ModuleTimes().lines() == []
