"""Hot reload on a running Hotline: an edited flow goes live for new calls, a call in
progress keeps the version it started with, a broken edit is refused with the lint
errors and the last good version keeps serving. Every version is archived.

The session's flows folder is a copy (tests/e2e/conftest.py); this test edits its
e2e_reload.yaml (number 309) and puts the original back at the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.store import Store
from tests.e2e.conftest import RunningHotline
from tests.e2e.sipp import ExpectHangup, SippCall
from tests.e2e.test_flow_nodes import calls
from tests.e2e.test_ivr_call import contact_of, prompts

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("no_leaks")]

FLOW = """name: e2e_reload
start: say
nodes:
  say:
    type: play
    prompts: [{prompts}]
    barge_in: false
    next: end
  end:
    type: hangup
"""


def version(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def wait_for_log(hotline: RunningHotline, needle: str, after: int, timeout: float = 15) -> str:
    """The first log line containing `needle` past the first `after` characters."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = hotline.log.read_text(errors="replace")[after:]
        for line in text.splitlines():
            if needle in line:
                return text[text.index(line) :]
        time.sleep(0.2)
    raise AssertionError(f"no {needle!r} in the log:\n{hotline.log_tail()}")


def log_size(hotline: RunningHotline) -> int:
    return len(hotline.log.read_text(errors="replace"))


def edit(hotline: RunningHotline, text: str) -> int:
    """Write the flow file; returns the log position before the edit."""
    at = log_size(hotline)
    # Same size and the same second would look unchanged to the watcher.
    time.sleep(0.05)
    (hotline.flows_dir / "e2e_reload.yaml").write_text(text)
    return at


@pytest.fixture
def flow_file(hotline: RunningHotline) -> Iterator[Path]:
    path = hotline.flows_dir / "e2e_reload.yaml"
    original = path.read_text()
    yield path
    at = edit(hotline, original)
    wait_for_log(hotline, f"e2e_reload@{version(original)}", at)


def started(hotline: RunningHotline, caller: str, timeout: float = 15) -> None:
    """Wait until the caller's contact exists (the call has taken its flow set)."""

    async def opened() -> bool:
        store = await Store.connect(hotline.database_url)
        try:
            return any(c.source == caller for c in await store.recent_contacts(500))
        finally:
            await store.close()

    deadline = time.monotonic() + timeout
    while not asyncio.run(opened()):
        assert time.monotonic() < deadline, f"no contact from {caller}:\n{hotline.log_tail()}"
        time.sleep(0.1)


def test_edit_goes_live_and_a_broken_edit_is_refused(
    hotline: RunningHotline, flow_file: Path
) -> None:
    original = flow_file.read_text()
    v2 = FLOW.format(prompts="we_are_closed, opening_hours")
    at = edit(hotline, v2)
    assert "flows.reloaded" in wait_for_log(hotline, f"e2e_reload@{version(v2)}", at)

    # A new call gets v2. While it talks, v3 goes live: the call keeps v2.
    call = SippCall(
        hotline.workdir / "sipp", hotline.sip_port, "309", "5554001", [ExpectHangup(40)]
    )
    call.start()
    started(hotline, "5554001")
    v3 = FLOW.format(prompts="we_are_open")
    at = edit(hotline, v3)
    wait_for_log(hotline, f"e2e_reload@{version(v3)}", at)
    assert call.proc is not None and call.proc.poll() is None, "the call ended before the reload"
    assert call.wait().ok
    contact, events = contact_of(hotline, "5554001")
    assert contact.flow_version == version(v2)
    assert [k for k, _ in prompts(events)] == ["we_are_closed", "opening_hours"]

    # A broken edit: refused with the linter's words, v3 stays live.
    broken = v3.replace("next: end", "next: nowhere")
    at = edit(hotline, broken)
    refusal = wait_for_log(hotline, "flows.refused", at)
    assert "target-missing" in refusal and "nowhere" in refusal
    assert str(flow_file) in refusal
    calls(hotline, "309", {"5554002": [ExpectHangup(30)]})
    contact, events = contact_of(hotline, "5554002")
    assert contact.flow_version == version(v3)
    assert [k for k, _ in prompts(events)] == ["we_are_open"]

    # Every version that went live is kept, by the id logged on the contacts.
    archive = hotline.state / "flow_versions" / "e2e_reload"
    for text in (original, v2, v3):
        assert (archive / f"{version(text)}.yaml").read_text() == text
    assert not (archive / f"{version(broken)}.yaml").exists()
