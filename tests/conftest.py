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

#: End-to-end modules from the slowest (measured with `--durations=0`); the others follow.
#: The two load tests (soak, load guard; each runs a Hotline of its own under load) are
#: first and fifth: xdist's first round gives each of 4 workers two modules, 1+5 go to
#: the same worker, so they run one after the other rather than on top of each other.
SLOW_FIRST = (
    "e2e/test_soak.py",
    "e2e/test_callbacks.py",
    "e2e/test_recovery.py",
    "e2e/test_ivr_call.py",
    "e2e/test_load_guard.py",
    "e2e/test_speech.py",
    "e2e/test_sip_security.py",
    "e2e/test_flow_nodes.py",
    "e2e/test_queue_more.py",
    "e2e/test_agi.py",
    "e2e/test_wallboard.py",
    "e2e/test_chat_desk.py",
    "e2e/test_browser_phone.py",  # about 70 s (Chromium, six calls and registrations)
    "e2e/test_existing_asterisk.py",  # about 45 s (a stock Asterisk of its own)
    "e2e/test_cluster_worker.py",  # about 150 s (leaders, a worker, NATS, PostgreSQL)
    "e2e/test_edge.py",  # 125-180 s (Kamailio, two nodes, a leader, NATS, PostgreSQL)
    "e2e/test_pg_outage.py",  # 130-150 s (PostgreSQL cut off twice under a worker)
    "e2e/test_https_desk.py",  # about 40 s (a Hotline of its own with web.tls, Chromium)
    "e2e/test_live_transcript.py",  # 55-90 s (Vosk's Korean model, Chromium, three calls)
    "e2e/test_web_tier.py",  # 150-180 s (two web processes, haproxy, a leader, a worker)
    "e2e/test_cluster_callbacks.py",  # 100-200 s (two workers, a leader and standby)
    "e2e/test_cluster_recordings.py",  # about 60 s (two workers, a leader)
    "e2e/test_queue.py",
    "e2e/test_reconnect.py",
    "e2e/test_speech_recovery.py",
    "e2e/test_agent_presence.py",
    "e2e/test_chat_recovery.py",
    "e2e/test_web_login.py",
    "e2e/test_recording.py",
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
