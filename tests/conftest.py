"""The order test modules are handed to parallel workers (`make test` runs pytest-xdist).

Each worker takes whole modules (`--dist loadfile`), in collection order. The end-to-end
modules are slow because they wait on real time (calls, rings, restarts), so the slowest
ones go first and the many short unit modules fill the gaps at the end: the workers then
finish at about the same time. A serial run keeps pytest's own order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import module_times

ROOT = Path(__file__).resolve().parent

#: End-to-end modules from the slowest, handed out in this order (the others follow, then
#: the unit modules, which fill the gaps at the end): a long module handed out late keeps
#: one worker busy alone at the end of the run. Times: each module alone (`-n 0
#: --durations=0`, on the shared 2-core machine, 2026-12-06), or as its author measured
#: it; a run's own are printed at its end (tests/module_times.py): order from those.
#: The two load tests (soak, load guard; each runs a Hotline of its own under load) are
#: first and fifth: the soak is one test, so the first worker is given the fifth module
#: at once (the others, with more tests, wait for their next until their last two), and
#: the two run one after the other rather than on top of each other.
SLOW_FIRST = (
    "e2e/test_soak.py",  # 50-75 s (30 s of 40 calls at once, a Hotline of its own)
    "e2e/test_edge.py",  # 190-200 s (Kamailio, two nodes, a leader + standby, NATS, PG)
    "e2e/test_cluster_callbacks.py",  # 120-150 s (two workers, a leader and standby)
    # 115-165 s (twelve tests on a Hotline of its own with short prompts, another killed)
    "e2e/test_callbacks.py",
    "e2e/test_load_guard.py",  # 25-40 s (8 calls a second for 5 s, a Hotline of its own)
    # test_cluster_worker: 125-135 s in CI before its kill -9 test (28 s) went to test_edge.
    "e2e/test_cluster_worker.py",  # ~100 s (leaders, a worker, NATS, PostgreSQL)
    "e2e/test_recovery.py",  # 90-100 s (an Asterisk and two controllers a test)
    "e2e/test_web_tier.py",  # 74-130 s (two web processes, haproxy, a leader, a worker)
    "e2e/test_browser_phone.py",  # 110 s (Chromium, six calls and registrations)
    "e2e/test_live_transcript.py",  # 55-90 s (Vosk's Korean model, Chromium, three calls)
    "e2e/test_call_consult.py",  # 75 s
    "e2e/test_click_to_call.py",  # 70 s
    "e2e/test_https_desk.py",  # 65 s (a Hotline of its own with web.tls, Chromium)
    "e2e/test_call_control.py",  # 60 s
    "e2e/test_call_transfers.py",  # 60 s
    "e2e/test_cluster_recordings.py",  # 45-90 s (two workers, a leader)
    "e2e/test_monitoring.py",  # 55 s
    "e2e/test_overload.py",  # 55 s
    "e2e/test_pg_outage.py",  # 50-100 s (PostgreSQL cut off for 10 s under a worker)
    "e2e/test_speech.py",  # 50 s
    "e2e/test_flow_nodes.py",  # 50 s
    "e2e/test_sip_security.py",  # 45 s
    "e2e/test_chat_recovery.py",  # 45 s
    "e2e/test_existing_asterisk.py",  # 45 s (a stock Asterisk of its own)
    "e2e/test_wallboard.py",  # 45 s
    "e2e/test_monitoring_wallboard.py",  # 45 s
    "e2e/test_queue_more.py",  # 40 s
    "e2e/test_ivr_call.py",  # 35-45 s (a Hotline of its own with short prompts)
    "e2e/test_agi.py",  # 35 s
    "e2e/test_chat_rich.py",  # 35 s
    "e2e/test_monitoring_browser_phone.py",  # 35 s
    "e2e/test_consult_recovery.py",  # 35 s
    "e2e/test_desk_seat.py",  # 35 s; the others: 30 s or less each
)


def _rank(item: pytest.Item) -> tuple[int, int]:
    path = item.path.relative_to(ROOT).as_posix()
    if path in SLOW_FIRST:
        return 0, SLOW_FIRST.index(path)
    return (1, 0) if path.startswith("e2e/") else (2, 0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: all of them sort alike
        items.sort(key=_rank)  # stable: a module's tests keep their order


def pytest_configure(config: pytest.Config) -> None:
    module_times.register(config)
