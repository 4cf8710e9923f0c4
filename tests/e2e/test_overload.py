"""Overload admission end to end: with a low configured limit on calls in progress, the
SIPp callers beyond it are turned away at once with the configured answer (SIP 486
Busy Here, nothing answered, no contact opened; by the dialplan, before Stasis) and
counted on /metrics and the wallboard, while the callers within the limit are served
as usual: they hear the prompt, key, wait, and talk to an agent. Once the calls in
progress end, a new call is taken again.

A Hotline of its own (the load benchmark's harness: bench/bench_sipp_load.py) with the
bench flow (prompt, one key, the `bench` queue) and auto-answering SIPp agents.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bench.bench_sipp_load import HOME, NUMBER, Hotline, Phones, bench_config, published_prompt
from tests.e2e.conftest import left_in
from tests.e2e.ports import free_port
from tests.e2e.sipp import ExpectHangup, Gate, HangUp, Keys, SippCall, Wait, refused_caller

pytestmark = pytest.mark.e2e

LIMIT = 3  # calls in progress
REFUSED = 5  # callers arriving while LIMIT calls are in progress
AGENT_TALK = 3.0  # seconds an agent stays on the line after answering

#: A caller who expects to be turned away busy: INVITE, then 486, which SIPp ACKs.
BUSY_CALLER = refused_caller(486)


@contextlib.contextmanager
def admitting(tmp_path: Path, overload: dict[str, object]) -> Iterator[Hotline]:
    """A Hotline of its own with these overload settings and 4 auto-answering agents."""
    phones = Phones(tmp_path / "phones", 4, talk=AGENT_TALK).start()
    hotline: Hotline | None = None
    try:
        flows = tmp_path / "flows"
        shutil.copytree(HOME / "bench/flows", flows)
        config = bench_config(f"overload-{os.getpid()}", phones, flows, rtp_ports=200)
        config["overload"] = overload
        hotline = Hotline(tmp_path / "hotline", config)
        hotline.workdir.mkdir()
        hotline.start()
        yield hotline
    finally:
        if hotline is not None:
            hotline.stop()
        phones.stop()


@pytest.fixture
def overloaded(tmp_path: Path) -> Iterator[tuple[Hotline, Path]]:
    """A Hotline whose overload admission takes LIMIT calls at most, answering busy."""
    with admitting(tmp_path, {"max_calls": LIMIT, "answer": "busy"}) as hotline:
        yield hotline, tmp_path


def get(hotline: Hotline, path: str) -> bytes:
    token = yaml.safe_load((hotline.state / "secrets.yaml").read_text())["api_token"]
    request = urllib.request.Request(f"http://127.0.0.1:{hotline.config['web']['port']}{path}")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        body: bytes = response.read()
        return body


def events(hotline: Hotline) -> list[tuple[str, str, str]]:
    """(caller, event type, data) of every contact event so far."""
    db = hotline.state / "hotline.db"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        rows = con.execute(
            "SELECT c.source, e.type, e.data FROM contact_events e "
            "JOIN contacts c ON c.id = e.contact_id ORDER BY e.id"
        )
        return [(str(source), kind, data) for source, kind, data in rows]


def wait_for(check: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_calls_past_the_limit_get_busy_and_are_counted_while_the_calls_in_are_served(
    overloaded: tuple[Hotline, Path],
) -> None:
    hotline, workdir = overloaded
    published_prompt(hotline, workdir)
    sip = hotline.config["asterisk"]["sip_port"]
    callers = [f"5100{n}" for n in range(LIMIT)]
    admitted = [
        SippCall(workdir, sip, NUMBER, c, [Gate(60), Keys("1"), ExpectHangup(60)]).start()
        for c in callers
    ]
    # All LIMIT calls are in: each has heard the prompt (its end is logged).
    wait_for(
        lambda: {c for c, kind, _ in events(hotline) if kind == "prompt.played"} >= set(callers),
        "the admitted callers' prompts",
    )

    # Callers beyond the limit, all at once: busy at the door.
    busy = workdir / "busy"
    busy.mkdir()
    (busy / "busy.xml").write_text(BUSY_CALLER.format(name="busy", dial=NUMBER, caller="5200"))
    started = time.monotonic()
    command = ["sipp", f"127.0.0.1:{sip}", "-sf", "busy.xml", "-i", "127.0.0.1"]
    command += ["-p", str(free_port("udp")), "-m", str(REFUSED), "-r", "20", "-l", str(REFUSED)]
    command += ["-nostdin", "-timeout", "30s", "-trace_err", "-error_file", "errors.log"]
    refused = subprocess.run(
        command,
        cwd=busy,
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    errors = (busy / "errors.log").read_text() if (busy / "errors.log").exists() else ""
    assert refused.returncode == 0, f"the refused callers did not all get 486:\n{errors[-2000:]}"
    assert took < 10, f"{REFUSED} refusals took {took:.1f} s"

    # The calls within the limit go on: they key, wait, talk to an agent.
    for call in admitted:
        call.open_gate()
    results = [call.wait(90) for call in admitted]
    assert all(r.ok for r in results), [r.output for r in results if not r.ok]
    wait_for(  # written while the calls go on: the last ones just after
        lambda: {c for c, kind, _ in events(hotline) if kind == "call.ended"} >= set(callers),
        "the admitted calls' ends in the log",
        30,
    )
    logged = events(hotline)
    for caller in callers:
        ended = [json.loads(d) for c, k, d in logged if c == caller and k == "queue.call_ended"]
        mine = [k for c, k, _ in logged if c == caller]
        assert ended and ended[0]["ended_by"] == "agent", f"caller {caller}: {ended} {mine}"
        assert ended[0]["talk_seconds"] >= AGENT_TALK - 1
    # Refused calls opened no contact and left nothing in the log.
    assert {c for c, _, _ in logged} == set(callers)

    # Counted: /metrics and the wallboard.
    metrics = get(hotline, "/metrics").decode()
    assert f'hotline_calls_refused_total{{reason="max_calls"}} {REFUSED}.0' in metrics, metrics
    assert "hotline_calls_admitted_total 3.0" in metrics
    board = json.loads(get(hotline, "/api/wallboard"))
    assert board["active"]["refused"] == REFUSED
    assert_turned_away_in_the_dialplan(hotline)

    # With the calls over, a new caller is taken again (answered: 200 OK, then hangs up).
    wait_for(lambda: hotline_active(hotline) == 0, "the calls to end", 30)
    again = SippCall(workdir, sip, NUMBER, "53000", [Wait(0.5), HangUp()]).run(60)
    assert again.ok, again.output
    assert "hotline_calls_admitted_total 4.0" in get(hotline, "/metrics").decode()
    wait_for(
        lambda: left_in(lambda path: ari(hotline, path)) == ([], []),
        "no leftovers",
        10,
    )


def ari(hotline: Hotline, path: str) -> object:
    """GET an ARI resource of the test's Asterisk."""
    secrets = yaml.safe_load((hotline.state / "secrets.yaml").read_text())
    url = f"http://127.0.0.1:{hotline.config['asterisk']['http_port']}/ari"
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, url, secrets["ari_user"], secrets["ari_password"])
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
    with opener.open(f"{url}/{path}", timeout=10) as response:
        return json.loads(response.read())


def hotline_active(hotline: Hotline) -> int:
    status = json.loads(get(hotline, "/api/status"))
    return int(status["active_calls"])


def test_the_message_answer_tells_the_caller_and_hangs_up(tmp_path: Path) -> None:
    """`answer: message`: a call over the limit is answered, hears the `overloaded`
    prompt whole and is hung up by Hotline; no contact, counted."""
    with admitting(tmp_path, {"max_calls": 1, "answer": "message"}) as hotline:
        published_prompt(hotline, tmp_path)  # the prompts are in Asterisk's folder
        spoken = hotline.instance_dir / "sounds/en/overloaded.wav"
        assert spoken.exists(), "the overloaded prompt is published for Asterisk"
        sip = hotline.config["asterisk"]["sip_port"]
        inside = SippCall(tmp_path, sip, NUMBER, "51000", [Gate(60), HangUp()]).start()
        wait_for(lambda: hotline_active(hotline) == 1, "the first call to be in", 30)
        started = time.monotonic()
        told = SippCall(tmp_path, sip, NUMBER, "52000", [ExpectHangup(30)]).run(60)
        took = time.monotonic() - started
        assert told.ok, told.output
        with wave.open(str(spoken)) as wav:
            length = wav.getnframes() / wav.getframerate()
        assert took >= length - 0.5, f"hung up after {took:.1f} s, the prompt lasts {length:.1f}"
        inside.open_gate()
        assert inside.wait(30).ok
        wait_for(
            lambda: (
                'hotline_calls_refused_total{reason="max_calls"} 1.0'
                in get(hotline, "/metrics").decode()
            ),
            "the refusal counted",
            10,
        )
        assert {c for c, _, _ in events(hotline)} == {"51000"}


def test_calls_past_the_admission_rate_get_busy_and_are_counted(tmp_path: Path) -> None:
    """`max_rate`: a burst of new calls beyond the rate (2 at once, 2 in each 1000 s of
    the clock) is turned away busy at the door, in the dialplan, and counted as
    `max_rate`, while the calls let in are served; once those have hung up, a new
    caller in the same window is still turned away (the callers let in are counted,
    not those still on the line). No call limit is set, so the rate alone decides."""
    overload = {"max_rate": 0.002, "max_burst": 2, "answer": "busy"}
    with admitting(tmp_path, overload) as hotline:
        sip = hotline.config["asterisk"]["sip_port"]
        # The dialplan counts the rate in windows of max_burst / max_rate = 1000 s of
        # the clock: the test's callers all fall in one (it takes well under 30 s).
        while time.time() % 1000 > 970:
            time.sleep(0.5)
        inside = [
            SippCall(tmp_path, sip, NUMBER, c, [Gate(60), HangUp()]).start()
            for c in ("51000", "51001")
        ]
        wait_for(lambda: hotline_active(hotline) == 2, "the burst's two calls to be in", 30)
        assert busy_callers(hotline, tmp_path / "busy", 3) == ""
        for call in inside:
            call.open_gate()
        assert all(call.wait(30).ok for call in inside)
        wait_for(lambda: hotline_active(hotline) == 0, "the calls let in to end", 30)
        # Nobody on the line, the window's two spent: still busy.
        assert busy_callers(hotline, tmp_path / "busy-after", 1) == ""
        # Counted once the dialplan's refusal reaches the controller (after the busy).
        refused = 'hotline_calls_refused_total{reason="max_rate"} 4.0'
        wait_for(lambda: refused in get(hotline, "/metrics").decode(), "4 refusals counted", 10)
        metrics = get(hotline, "/metrics").decode()
        assert 'hotline_calls_refused_total{reason="max_calls"} 0.0' in metrics
        assert "hotline_calls_admitted_total 2.0" in metrics
        board = json.loads(get(hotline, "/api/wallboard"))
        assert board["active"]["refused"] == 4
        assert {c for c, _, _ in events(hotline)} == {"51000", "51001"}
        assert_turned_away_in_the_dialplan(hotline)


def busy_callers(hotline: Hotline, folder: Path, count: int) -> str:
    """`count` callers at once, each expecting 486 Busy Here; SIPp's errors ('': all
    got it)."""
    folder.mkdir()
    (folder / "busy.xml").write_text(BUSY_CALLER.format(name="busy", dial=NUMBER, caller="5200"))
    sip = hotline.config["asterisk"]["sip_port"]
    command = ["sipp", f"127.0.0.1:{sip}", "-sf", "busy.xml", "-i", "127.0.0.1"]
    command += ["-p", str(free_port("udp")), "-m", str(count), "-r", "20", "-l", str(count)]
    command += ["-nostdin", "-timeout", "30s", "-trace_err", "-error_file", "errors.log"]
    refused = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=60)
    errors = (folder / "errors.log").read_text() if (folder / "errors.log").exists() else ""
    return "" if refused.returncode == 0 else f"not all got 486: {errors[-2000:]}"


def assert_turned_away_in_the_dialplan(hotline: Hotline) -> None:
    """The refusals were the dialplan's (before Stasis: the controller was told over
    AMI), none the controller's over ARI (after a StasisStart)."""
    log = (hotline.workdir / "hotline.log").read_text(errors="replace")
    assert "overload: turning new calls away in the dialplan" in log, log[-3000:]
    assert "overload: turning new calls away over ARI" not in log, log[-3000:]
