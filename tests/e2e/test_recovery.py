"""Nothing lost when the controller or Asterisk dies under live calls.

Each test runs its own Asterisk (started by the test, as in test_reconnect.py) and a
controller that connects to it, so that either can be killed while callers wait in a
queue and an agent talks:

- the controller killed with SIGKILL: the callers stay in Asterisk (music on hold goes
  on), a new controller takes them over — the waiting ones in their original order,
  the conversation untouched until it ends — and every contact ends completed;
- Asterisk killed under a running controller: the calls it took with it end "lost" in
  the event log, the agent is not left reserved or busy, the next call is served.

Measured and printed (`-s`): contacts lost and seconds to recover.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller.instance import AsteriskInstance
from controller.secrets import Secrets, load_secrets
from hotline.store import Contact, LoggedEvent, Store
from tests.e2e.conftest import RunningHotline, left_in, spawn, wait_ready, with_test_flows
from tests.e2e.conftest import test_config as config_on_free_ports
from tests.e2e.rtp import RtpSink
from tests.e2e.short_prompts import without_speech
from tests.e2e.sipp import ExpectHangup, Gate, HangUp, Keys, SippCall, Wait
from tests.e2e.sipp_uas import TransferTarget
from tests.e2e.test_reconnect import asterisk_for, controller_config, stop
from tests.pg import PostgresServer, PostgresUnavailable, require_or_skip

pytestmark = pytest.mark.e2e

#: How long a (re)started controller may take to be ready. On an idle machine it is
#: ~5 s (Python's imports, the prompts published, routing rebuilt from the store, ARI);
#: with 4 test workers on 2 cores the same takes several times that, so a caller whose
#: call spans a restart must be willing to wait this long on top of its call.
START_TIMEOUT = 120.0


@dataclass
class Site:
    """One Asterisk, the controller of the moment, and their shared store."""

    workdir: Path
    config: dict
    targets: dict[str, int]
    secrets: Secrets
    instance: AsteriskInstance
    controller: RunningHotline | None = None
    #: A PostgreSQL URL; None: the controller's SQLite file.
    database: str | None = None
    #: The Asterisk process (our child: reaped when killed).
    asterisk: subprocess.Popen | None = None
    starts: int = 0
    #: How long each start took until the controller was ready (ARI connected).
    start_seconds: list[float] = field(default_factory=list)
    callers: list[SippCall] = field(default_factory=list)

    def start(self) -> RunningHotline:
        self.starts += 1
        unmanaged = controller_config(self.config, self.secrets, self.secrets.ari_password)
        if self.database:
            unmanaged["database_url"] = self.database
        self.controller = spawn(unmanaged, self.workdir, self.targets, log_name=f"run{self.starts}")
        began = time.monotonic()
        wait_ready(self.controller, START_TIMEOUT)
        self.start_seconds.append(time.monotonic() - began)
        return self.controller

    def kill(self) -> None:
        assert self.controller is not None
        self.controller.proc.send_signal(signal.SIGKILL)
        self.controller.proc.wait(10)

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite+aiosqlite:///{self.workdir / 'state' / 'hotline.db'}"

    def ari(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.config['asterisk']['http_port']}/ari"
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, url, self.secrets.ari_user, self.secrets.ari_password)
        opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
        with opener.open(f"{url}/{path}", timeout=10) as response:
            return json.loads(response.read())

    def call(self, number: str, dial: str, within: float, **kw: Any) -> SippCall:
        steps = [ExpectHangup(within)]
        sipp = SippCall(
            self.workdir / "sipp", self.config["asterisk"]["sip_port"], dial, number, steps, **kw
        )
        self.callers.append(sipp.start())
        return sipp

    def phone(self, agent: str, **kw: float) -> TransferTarget:
        return TransferTarget(self.workdir / "phones", "answer", self.targets[agent], **kw).start()  # type: ignore[arg-type]

    def read(self, work: Callable[[Store], Any]) -> Any:
        async def run() -> Any:
            store = await Store.connect(self.database_url)
            try:
                return await work(store)
            finally:
                await store.close()

        return asyncio.run(run())

    def contact(self, number: str) -> tuple[Contact | None, list[LoggedEvent]]:
        async def work(store: Store) -> tuple[Contact | None, list[LoggedEvent]]:
            for contact in await store.recent_contacts(200):
                if contact.source == number:
                    return contact, await store.events(contact.id)
            return None, []

        return self.read(work)

    def events(self, types: list[str]) -> list[LoggedEvent]:
        from datetime import UTC, datetime

        async def work(store: Store) -> list[LoggedEvent]:
            return await store.events_between(
                datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC), types
            )

        return self.read(work)

    def log_tail(self) -> str:
        return self.controller.log_tail() if self.controller else ""

    def until(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = check()
            if got:
                return got
            time.sleep(0.2)
        raise AssertionError(f"{what} within {timeout}s:\n{self.log_tail()}")


#: This module's tests never listen (speech): their controllers load no Vosk model
#: (1.5-1.9 s of CPU at each start: docs/benchmarks.md). A module using these fixtures listens
#: unless its LISTENS says otherwise (tests/e2e/test_speech_recovery.py listens).
LISTENS = False


def listens(request: pytest.FixtureRequest) -> bool:
    return bool(getattr(request.module, "LISTENS", True))


@pytest.fixture
def site(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    with running_site(tmp_path, speech=listens(request)) as place:
        yield place


@pytest.fixture
def pg_site(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Site, PostgresServer]]:
    try:
        server = PostgresServer()
    except PostgresUnavailable as error:
        require_or_skip(str(error))
        raise
    try:
        server.start()
        database = server.create_database()
        with running_site(tmp_path, database, speech=listens(request)) as place:
            yield place, server
    finally:
        server.cleanup()


@contextlib.contextmanager
def running_site(
    tmp_path: Path, database: str | None = None, *, speech: bool = True
) -> Iterator[Site]:
    config, targets = with_test_flows(config_on_free_ports(f"recovery-{os.getpid()}"), tmp_path)
    if not speech:  # each controller start is spared loading the Vosk model
        config = without_speech(config)
    # Every phone Asterisk renders: agents' and supervisors' (users with an endpoint).
    phones = [a["endpoint"] for a in config["agents"]]
    phones += [u["endpoint"] for u in config.get("users", []) if u.get("endpoint")]
    secrets = load_secrets(tmp_path / "asterisk-secrets.yaml", phones)
    instance = asterisk_for(config, secrets)
    place = Site(tmp_path, config, targets, secrets, instance, database=database)
    place.asterisk = instance.start()
    try:
        yield place
    finally:
        for sipp in place.callers:
            if sipp.proc is not None and sipp.proc.poll() is None:
                sipp.proc.kill()
                sipp.proc.communicate()
        if place.controller is not None and place.controller.proc.poll() is None:
            stop(place.controller)
        instance.stop(place.asterisk)
        instance.remove()


def ended(site: Site, number: str) -> Contact | None:
    """The caller's contact once it is closed."""
    contact, _ = site.contact(number)
    return contact if contact is not None and contact.ended_at is not None else None


def has(events: list[LoggedEvent], kind: str) -> bool:
    return any(e.type == kind for e in events)


def no_leaks(site: Site) -> None:
    def empty() -> bool:
        return left_in(site.ari) == ([], [])

    site.until(empty, 15, "no channel or bridge left")


def test_killed_controller_takes_over_waiting_and_talking_calls(site: Site) -> None:
    # No controller serving Asterisk (never started here; killed, below): Stasis() finds
    # no application (STASISSTATUS FAILED), AGI() no FastAGI server (AGISTATUS FAILURE);
    # the dialplan refuses the call with cause 34, which PJSIP answers 503 (a trunk or
    # the cluster's edge tries elsewhere on it), not 603 (declined: final). No contact.
    assert final_answer(site, "5557005", "304") == "503"  # Stasis, no application ever
    assert final_answer(site, "5557006", "2304") == "503"  # AGI, no FastAGI server
    site.start()
    # carol's first call spans the kill and the restart; the waiting callers she takes
    # after it need no more than a short talk each.
    carol = site.phone("carol", ring=0.5, first_talk=7, talk=2, calls=3)
    talker = site.call("5557001", "304", 90)
    site.until(lambda: has(site.contact("5557001")[1], "queue.connected"), 20, "carol talks")
    sink = RtpSink()
    first = site.call("5557002", "304", 90, rtp_port=sink.port)
    site.until(lambda: has(site.contact("5557002")[1], "contact.join"), 20, "2nd caller waits")
    time.sleep(0.5)
    second = site.call("5557003", "304", 90)
    site.until(lambda: has(site.contact("5557003")[1], "contact.join"), 20, "3rd caller waits")

    def both_in_their_bridges() -> bool:  # joined the queue, then their holding bridge
        held = [b for b in site.ari("bridges") if b["id"].startswith("hold-e2e_fifo-")]
        return sorted(len(b["channels"]) for b in held) == [1, 1]

    site.until(both_in_their_bridges, 20, "both waiting callers in their holding bridges")
    site.kill()
    killed = time.monotonic()
    # Nobody controls the calls now; Asterisk keeps them: both waiting, each in a
    # holding bridge of their own, the conversation in its own.
    bridges = {b["id"]: b for b in site.ari("bridges")}
    held = [b for name, b in bridges.items() if name.startswith("hold-e2e_fifo-")]
    assert sorted(len(b["channels"]) for b in held) == [1, 1]
    assert any(name.startswith("talk-") for name in bridges)
    # A new call meanwhile is refused 503 (Stasis: its application gone with the
    # controller), not 603, and opens no contact; then 2 s more of the outage.
    assert final_answer(site, "5557004", "304") == "503"
    time.sleep(2.0)
    restarted = time.monotonic()
    site.start()
    recovered = site.until(lambda: site.events(["controller.recovered"]), 20, "recovery logged")
    up = time.monotonic() - restarted

    for sipp in (talker, first, second):
        result = sipp.wait(90)
        assert result.ok, f"{result.output}\n{site.log_tail()}"
    assert carol.wait_done().ok
    sink.close()

    report = recovered[-1].data
    assert (report["waiting"], report["talking"], report["lost"]) == (2, 1, 0), report
    for number in ("5557001", "5557002", "5557003"):
        site.until(lambda n=number: ended(site, n), 10, f"contact of {number} closed")
    contacts = {n: site.contact(n) for n in ("5557001", "5557002", "5557003")}
    lost = [n for n, (c, _) in contacts.items() if c is None or c.status != "completed"]
    assert lost == [], {n: (c.status if c else None) for n, (c, _) in contacts.items()}
    for number in ("5557004", "5557005", "5557006"):  # refused: no controller
        assert site.contact(number) == (None, []), number
    # The conversation went on under the new controller: its end is logged there.
    _, talk = contacts["5557001"]
    assert [e.data["ended_by"] for e in talk if e.type == "queue.call_ended"] == ["agent"]
    # The waiting callers kept their place: restored (not joined again), served in order.
    connected = []
    for number in ("5557002", "5557003"):
        _, events = contacts[number]
        assert [e.type for e in events if e.type in ("contact.join", "contact.restore")] == [
            "contact.join",
            "contact.restore",
        ]
        connected.append(next(e.id for e in events if e.type == "queue.connected"))
    assert connected == sorted(connected)
    # Music on hold never stopped while no controller ran.
    outage = (killed + 0.5, restarted)
    heard = sink.audible_seconds(*outage)
    assert heard >= 0.8 * (outage[1] - outage[0]), f"{heard:.2f}s of music in the outage"

    # carol ends available: wrap-up after each call, nothing left reserved or busy.
    def carol_free() -> bool:
        states = [e for e in site.events(["agent.finish", "agent.wrap_end"]) if e.agent == "carol"]
        return states[-1].type == "agent.wrap_end" and states[-1].data["to"] == "available"

    site.until(carol_free, 10, "carol available after her last call")
    no_leaks(site)
    print(
        f"\nrecovery: 0 of 3 contacts lost; controller up and recovered {up:.1f}s after restart "
        f"(recovery pass {report['seconds']:.3f}s)"
    )


def final_answer(site: Site, number: str, dial: str) -> str:
    """The final answer (status code) Asterisk gave a caller it did not answer."""
    call = site.call(number, dial, 10)
    assert not call.wait(30).ok, f"{number} was answered"
    text = (call.workdir / "messages.log").read_text(errors="replace")
    found = re.findall(r"^SIP/2.0 ([3-6]\d\d)[^\n]*\n(?:.*\n)*?CSeq: \d+ INVITE", text, re.M)
    return found[-1] if found else "no final answer"


def test_asterisk_killed_under_calls_marks_them_lost_and_frees_the_agent(site: Site) -> None:
    site.start()
    carol = site.phone("carol", ring=0.5, talk=30, calls=1)
    site.call("5557101", "304", 60)
    site.until(lambda: has(site.contact("5557101")[1], "queue.connected"), 20, "carol talks")
    site.call("5557102", "304", 60)
    site.until(lambda: has(site.contact("5557102")[1], "contact.join"), 20, "2nd caller waits")

    assert site.asterisk is not None
    site.asterisk.kill()
    site.asterisk.wait(10)
    with contextlib.suppress(Exception):
        carol.stop()
    for number in ("5557101", "5557102"):
        contact = site.until(lambda n=number: ended(site, n), 20, "lost")
        _, events = site.contact(number)
        assert contact.status == "lost", [(e.type, e.data) for e in events[-8:]]
        (end,) = [e.data for e in events if e.type == "call.ended"]
        assert end["reason"] == "asterisk_lost"
    started = time.monotonic()
    site.asterisk = site.instance.start()
    site.until(lambda: site.events(["controller.recovered"])[1:], 30, "reconnected")
    print(
        f"\nAsterisk restart: reconnected in {time.monotonic() - started:.1f}s, 2 calls marked lost"
    )
    # carol is free again: the next caller is served by her.
    carol = site.phone("carol", ring=0.5, talk=1, calls=1)
    site.until(lambda: registered_or_contact(site), 10, "carol reachable")
    after = site.call("5557103", "304", 60)
    result = after.wait(60)
    assert result.ok, f"{result.output}\n{site.log_tail()}"
    contact = site.until(lambda: ended(site, "5557103"), 10, "the call's contact closed")
    _, events = site.contact("5557103")
    assert contact.status == "completed"
    assert has(events, "queue.connected")
    no_leaks(site)


def registered_or_contact(site: Site) -> bool:
    """carol's phone is a fixed contact: reachable as soon as Asterisk is up."""
    endpoints = site.ari("endpoints/PJSIP/2001")
    return endpoints.get("state") == "online" or bool(endpoints.get("channel_ids") is not None)


def test_database_outage_delays_but_loses_nothing(pg_site: tuple[Site, PostgresServer]) -> None:
    site, server = pg_site
    site.start()
    carol = site.phone("carol", ring=0.5, talk=3, calls=2)
    talker = site.call("5557201", "304", 60)
    site.until(lambda: has(site.contact("5557201")[1], "queue.connected"), 20, "carol talks")

    server.stop("fast")  # the database goes away while carol talks ...
    down = time.monotonic()
    time.sleep(1.0)
    newcomer = site.call("5557202", "304", 60)  # ... and a new call comes in meanwhile
    time.sleep(max(0.0, 5.0 - (time.monotonic() - down)))  # both hang up / wait meanwhile
    server.start()

    for sipp in (talker, newcomer):
        result = sipp.wait(60)
        assert result.ok, f"{result.output}\n{site.log_tail()}"
    assert carol.wait_done().ok
    # The contacts' ends are writes retried after the outage: written once the store
    # has caught up, which can be after the phones have hung up.
    site.until(
        lambda: all(ended(site, n) for n in ("5557201", "5557202")), 20, "both contacts closed"
    )
    first, first_events = site.contact("5557201")
    second, second_events = site.contact("5557202")
    assert first is not None and first.status == "completed"
    assert second is not None and second.status == "completed"
    # Every write of the outage was retried, in order: the first call's end, the
    # second call's arrival and its whole time in the queue.
    assert [e.type for e in first_events if e.type in ("queue.call_ended", "call.ended")] == [
        "queue.call_ended",
        "call.ended",
    ]
    kinds = [e.type for e in second_events]
    for kind in ("call.arrived", "contact.join", "queue.connected", "call.ended"):
        assert kind in kinds, kinds
    no_leaks(site)


def test_killed_controller_restarts_ivr_callers_and_hangs_up_ringing_legs(site: Site) -> None:
    site.start()
    frank = TransferTarget(site.workdir / "phones", "no_answer", site.targets["frank"], wait=40)
    frank.start()
    waiting = SippCall(
        site.workdir / "sipp",
        site.config["asterisk"]["sip_port"],
        "306",
        "5557301",
        [Gate(), HangUp()],  # once the restarted controller has them both
    ).start()
    site.callers.append(waiting)
    in_menu = SippCall(
        site.workdir / "sipp",
        site.config["asterisk"]["sip_port"],
        "100",
        "5557302",
        [Gate(), HangUp()],
    ).start()
    site.callers.append(in_menu)
    site.until(lambda: has(site.contact("5557301")[1], "agent.ring"), 20, "frank's phone rings")
    site.until(lambda: has(site.contact("5557302")[1], "flow.node"), 20, "caller in the IVR")

    site.kill()
    site.start()
    recovered = site.until(lambda: site.events(["controller.recovered"]), 20, "recovery")
    report = recovered[-1].data
    assert (report["waiting"], report["restarted"]) == (1, 1), report
    assert report["orphans"] >= 1, report  # frank's ringing leg

    def contacts_of(number: str) -> list[Contact]:
        async def work(store: Store) -> list[Contact]:
            return [c for c in await store.recent_contacts(100) if c.source == number]

        return site.read(work)

    # Both callers hang up once the new controller has them: the IVR caller's flow
    # started again (a new contact), the waiting caller's place restored.
    site.until(
        lambda: len(contacts_of("5557302")) == 2 and has(site.contact("5557302")[1], "flow.node"),
        20,
        "the IVR caller's flow again",
    )
    site.until(lambda: has(site.contact("5557301")[1], "contact.restore"), 20, "place restored")
    for sipp in (waiting, in_menu):
        sipp.open_gate()
        result = sipp.wait(40)
        assert result.ok, f"{result.output}\n{site.log_tail()}"
    frank.stop()

    # The IVR caller: its first contact ended lost, the flow started again as a new one.
    site.until(lambda: all(c.ended_at for c in contacts_of("5557302")), 10, "contacts closed")
    first, again = sorted(contacts_of("5557302"), key=lambda c: c.started_at)
    assert first.status == "lost"
    _, events = site.contact("5557302")
    assert again.status == "abandoned" and again.id != first.id
    assert events and events[0].contact_id == again.id and has(events, "flow.started")
    # The waiting caller kept its place and left by hanging up: abandoned, not lost.
    contact = site.until(lambda: ended(site, "5557301"), 10, "waiting caller's contact closed")
    _, events = site.contact("5557301")
    assert contact.status == "abandoned" and has(events, "contact.restore")
    no_leaks(site)


def test_a_recorded_conversation_survives_the_kill_and_is_stored(site: Site) -> None:
    site.start()
    hank = site.phone("hank", ring=0.5, talk=9, calls=1)
    caller = site.call("5557401", "308", 60)
    site.until(lambda: has(site.contact("5557401")[1], "recording.started"), 30, "recording")
    site.kill()
    site.start()
    result = caller.wait(60)
    assert result.ok, f"{result.output}\n{site.log_tail()}"
    assert hank.wait_done().ok
    contact = site.until(lambda: ended(site, "5557401"), 10, "contact closed")
    _, events = site.contact("5557401")
    assert contact.status == "completed"
    (saved,) = [e.data for e in events if e.type == "recording.saved"]
    # Recorded from the answer to the hang-up, across the outage: one whole file. (This
    # controller does not manage Asterisk, so it cannot read the file: the test does.)
    with wave.open(str(site.instance.recordings_dir / f"{saved['name']}.wav")) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert seconds >= 6, saved
    no_leaks(site)


def test_a_transferred_conversation_goes_on_across_the_kill(site: Site) -> None:
    site.start()
    target = TransferTarget(site.workdir / "phones", "answer", site.targets["answer"], talk=8)
    target.start()
    port = site.config["asterisk"]["sip_port"]
    # The call itself: the transfer rings and is answered (~2 s), 8 s of talk, then the
    # flow ends; 40 s cover it on a loaded machine. The restart comes on top, and the
    # caller must wait as long as the test lets the controller take to come back (a
    # fixed 60 s was outrun when the restart alone took most of it under 4 workers).
    within = 40 + START_TIMEOUT
    steps = [Wait(1.5), Keys("1"), ExpectHangup(within)]
    caller = SippCall(
        site.workdir / "sipp", port, "303", "5557501", steps, timeout=within + 30
    ).start()
    site.callers.append(caller)
    site.until(lambda: has(site.contact("5557501")[1], "transfer.answered"), 30, "transferred")
    site.kill()
    site.start()
    recovered = site.until(lambda: site.events(["controller.recovered"]), 20, "recovery")
    assert recovered[-1].data["talking"] == 1
    result = caller.wait(within + 30)
    print(f"\ncontroller ready after {', '.join(f'{s:.1f}' for s in site.start_seconds)} s")
    assert result.ok, f"{result.output}\n{site.log_tail()}"
    assert target.wait_done().ok
    contact = site.until(lambda: ended(site, "5557501"), 10, "contact closed")
    assert contact.status == "completed"
    no_leaks(site)
