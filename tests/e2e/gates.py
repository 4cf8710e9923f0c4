"""Open a SIPp caller's Gate steps as its contact's event log reaches each state.

`Gates(hotline, number, ["contact.join", "prompt:callback_confirm"]).start(call)`
polls the call's contact (from `number`) in a thread and opens the call's next Gate once
the next condition holds: an event type ("contact.join"), or a prompt that was played
("prompt:<key>": its `prompt.played` event, logged once it ended or was cut short).
The caller acts when the call is ready for it, not after a pause guessed for an idle
machine.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from hotline.store import LoggedEvent, Store
from tests.e2e.conftest import RunningHotline
from tests.e2e.sipp import SippCall

#: An event type, "prompt:<key>", or a test of the events so far.
Condition = str | Callable[[list[LoggedEvent]], Any]


def reached(events: list[LoggedEvent], condition: Condition) -> bool:
    """Whether the events show `condition`."""
    if callable(condition):
        return bool(condition(events))
    if condition.startswith("prompt:"):
        key = condition.removeprefix("prompt:")
        return any(key in (e.data.get("prompts") or []) for e in events)
    return any(e.type == condition for e in events)


def contacts_from(hotline: RunningHotline, number: str) -> list[tuple[str, list[LoggedEvent]]]:
    """(id, events) of the recent contacts from `number`, newest first."""

    async def read() -> list[tuple[str, list[LoggedEvent]]]:
        store = await Store.connect(hotline.database_url)
        try:
            recent = await store.recent_contacts(50)
            return [(c.id, await store.events(c.id)) for c in recent if c.source == number]
        finally:
            await store.close()

    return asyncio.run(read())


class Gates:
    """A thread opening `call`'s gates, one per condition, in order.

    Made before the call starts: the contacts from `number` that exist then (earlier
    calls, callbacks placed with that caller id) are never taken for the call's."""

    def __init__(self, hotline: RunningHotline, number: str, conditions: list[Condition]) -> None:
        self.hotline, self.number = hotline, number
        self.waiting = list(conditions)
        self.before = {id for id, _ in contacts_from(hotline, number)}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: Any = None
        self.call: SippCall | None = None

    def start(self, call: SippCall) -> Gates:
        """Open `call`'s gates (a call just started) as its contact gets there."""
        self.call = call
        self.thread.start()
        return self

    def events(self) -> list[LoggedEvent]:
        """The events of the call's contact so far (none before it exists)."""
        fresh = [e for id, e in contacts_from(self.hotline, self.number) if id not in self.before]
        return fresh[0] if fresh else []

    def _run(self) -> None:
        assert self.call is not None
        deadline = time.monotonic() + 90
        proc = self.call.proc
        assert proc is not None
        try:
            while self.waiting and time.monotonic() < deadline and proc.poll() is None:
                if reached(self.events(), self.waiting[0]):
                    self.call.open_gate()
                    self.waiting.pop(0)
                    continue
                time.sleep(0.1)
        except Exception as error:  # reported by `check`
            self.error = error

    def check(self, timeout: float = 10) -> None:
        """Every gate was opened (call after the call ended)."""
        self.thread.join(timeout)
        assert self.error is None, f"polling {self.number}'s events failed: {self.error!r}"
        assert not self.waiting, f"the call from {self.number} never reached {self.waiting}"
