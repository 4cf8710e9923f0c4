"""Where a test run's time went, per module and per worker (printed at the end of a run).

`make test` hands whole modules to four workers (tests/conftest.py's SLOW_FIRST); the
run lasts as long as its busiest worker. So the summary says, for each worker, when it
finished and how long it was busy, and for the slowest modules which worker ran them,
their time (setup + call + teardown of all their tests) and when they started and ended
(seconds since the first test began): the figures SLOW_FIRST is ordered from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

#: Modules listed in the summary (the slowest first).
SHOWN = 25


@dataclass
class Span:
    """One module's (or worker's) time: its tests' durations and its first and last
    report (seconds since the run's first report)."""

    worker: str
    busy: float = 0.0
    first: float = 0.0
    last: float = 0.0


class ModuleTimes:
    """Collects the run's test reports (on xdist's controller: every worker's)."""

    def __init__(self) -> None:
        self.began: float | None = None
        self.modules: dict[str, Span] = {}
        self.workers: dict[str, Span] = {}

    def add(self, report: pytest.TestReport, now: float) -> None:
        """Count one phase (setup, call or teardown) of one test."""
        if self.began is None:
            self.began = now - report.duration
        at = now - self.began
        start = max(0.0, at - report.duration)
        worker = getattr(getattr(report, "node", None), "gateway", None)
        name = worker.id if worker is not None else "main"
        module = report.nodeid.split("::", 1)[0]
        for key, table in ((module, self.modules), (name, self.workers)):
            span = table.get(key)
            if span is None:
                span = table[key] = Span(name, first=start)
            span.busy += report.duration
            span.last = max(span.last, at)

    def lines(self, shown: int = SHOWN) -> list[str]:
        """The summary's lines: workers, then the slowest modules."""
        if not self.modules:
            return []
        out = ["workers (finished at, busy):"]
        for name, span in sorted(self.workers.items()):
            out.append(f"  {name}: {span.last:7.1f} s  {span.busy:7.1f} s")
        slowest = sorted(self.modules.items(), key=lambda item: -item[1].busy)[:shown]
        out.append(f"slowest {len(slowest)} modules (time, worker, from - to):")
        for module, span in slowest:
            out.append(
                f"  {span.busy:7.1f} s  {span.worker:>5}  {span.first:6.1f} - {span.last:6.1f}"
                f"  {module}"
            )
        return out


class Plugin:
    """The hooks, registered on the controller only (a worker's reports reach it)."""

    def __init__(self) -> None:
        self.times = ModuleTimes()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.times.add(report, time.monotonic())

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        lines = self.times.lines()
        if lines:
            terminalreporter.write_sep("=", "time per worker and module")
            for line in lines:
                terminalreporter.write_line(line)


def register(config: pytest.Config) -> None:
    """Count this run's time (on xdist's controller, or a serial run's only process)."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(Plugin(), "module_times")
