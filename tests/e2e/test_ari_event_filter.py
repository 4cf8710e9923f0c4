"""The Stasis application's event filter on a real Asterisk 22: the controller has
Asterisk send it only the event types it acts on (ari_app/events.py); the whole voice
suites (queue, call control, transfers, recovery, IVR) pass with it in place."""

from __future__ import annotations

import pytest

from ari_app.events import WANTED_EVENTS
from tests.e2e.conftest import RunningHotline

pytestmark = pytest.mark.e2e


def test_asterisk_sends_the_app_only_the_events_it_acts_on(
    hotline: RunningHotline, no_leaks: None
) -> None:
    app = hotline.config["asterisk"].get("ari_app", "hotline")
    application = hotline.ari(f"applications/{app}")
    assert isinstance(application, dict)
    allowed = sorted(entry["type"] for entry in application["events_allowed"])
    assert allowed == sorted(WANTED_EVENTS)
    assert application["events_disallowed"] == []
