"""What a contact waiting in a queue is told, and when: one waiting experience for
every channel.

The rules live here once; adapters only render what is due (the voice adapter as
prompts over the music, the chat bridge as messages)::

    wait = WaitingExperience(queue_settings, started=now, callbacks=True)
    ...
    if now >= wait.next_at():
        position, eta = routing.place(id)
        for tell in wait.due(now, position=position, eta=eta):
            match tell:
                case Position(number): ...        # "you are number 3 in the queue"
                case EstimatedWait(minutes): ...  # "about 4 minutes"
                case Message(key): ...            # a periodic prompt / message
                case CallbackOffer(key): ...      # "press 5 for a callback" / buttons

The schedule comes from the queue's settings (`queues: NAME:`):

- `announcements.position_every`: the position, on arrival and then every N s;
- `announcements.eta_every`: the estimated wait (whole minutes, `wait_minutes`), on
  arrival and then every N s, only while the contact has a position;
- `announcements.periodic` in turn every `announcements.periodic_every` s (the first one
  after the interval, not on arrival);
- `callback.offer_after`: the callback offer, once, as soon as the *estimated* wait is at
  least this long (checked on arrival and every `CALLBACK_OFFER_CHECK` s).

The abandoned policy (`callback.abandoned`) is applied by the callback service
(`CallbackService.abandoned`); `abandoned_policy` says whether a queue has one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from hotline.acd.settings import QueueSettings
from hotline.callbacks.settings import QueueCallback

INF = float("inf")

#: How often the estimated wait is checked against the queue's callback `offer_after`
#: (the offer is made once).
CALLBACK_OFFER_CHECK = 5.0


@dataclass(frozen=True)
class Position:
    """The contact's place in the queue (1 = next)."""

    number: int


@dataclass(frozen=True)
class EstimatedWait:
    """The estimated wait, in whole minutes (`wait_minutes`)."""

    minutes: int


@dataclass(frozen=True)
class Message:
    """A periodic message: a prompt key of the catalogue."""

    key: str


@dataclass(frozen=True)
class CallbackOffer:
    """Offer a callback that keeps the place; `key` is the queue's callback key
    (a caller presses it; a chat shows buttons instead)."""

    key: str | None


Tell = Position | EstimatedWait | Message | CallbackOffer


class Due(StrEnum):
    """The kinds of things a waiting contact is told on a schedule."""

    POSITION = "position"
    ETA = "eta"
    PERIODIC = "periodic"
    CALLBACK = "callback"


def wait_minutes(eta: float) -> int:
    """The one rounding rule for an estimated wait in seconds: whole minutes, rounded
    up, at least 1 (a wait is never announced as shorter than it is)."""
    return max(1, math.ceil(eta / 60))


def announced(told: list[Tell]) -> dict[str, object]:
    """The `queue.announced` event's data for what was told, on every channel:
    {position, eta_minutes, periodic, callback_offer}, each only when told."""
    said: dict[str, object] = {}
    for tell in told:
        match tell:
            case Position(number):
                said["position"] = number
            case EstimatedWait(minutes):
                said["eta_minutes"] = minutes
            case Message(key):
                said["periodic"] = key
            case CallbackOffer():
                said["callback_offer"] = True
    return said


def callback_offered(callback: QueueCallback | None, eta: float | None) -> bool:
    """The one callback offer rule: the queue offers callbacks (`offer_after` > 0) and
    the contact's *estimated* wait is at least `offer_after` seconds."""
    if callback is None or not callback.offer_after:
        return False
    return eta is not None and eta >= callback.offer_after


def abandoned_policy(settings: QueueSettings) -> bool:
    """The queue does something for contacts who leave it unanswered."""
    return settings.callback is not None and settings.callback.abandoned.action != "off"


class WaitingExperience:
    """One contact's wait in one queue: what is due when (see the module docstring).

    `callbacks` False: no callback service runs, so no offer is made. Times are seconds
    on any monotonic clock, the same for `started` and every `now`."""

    def __init__(self, settings: QueueSettings, *, started: float, callbacks: bool) -> None:
        said = settings.announcements
        self.callback = settings.callback if callbacks else None
        self.every: dict[Due, float] = {
            Due.POSITION: said.position_every,
            Due.ETA: said.eta_every,
            Due.PERIODIC: said.periodic_every if said.periodic else 0.0,
            Due.CALLBACK: CALLBACK_OFFER_CHECK if self.offers_callback else 0.0,
        }
        # Position, wait and the offer check on arrival; periodic messages after their
        # interval.
        self.at: dict[Due, float] = {
            kind: (started + gap if kind is Due.PERIODIC else started) if gap else INF
            for kind, gap in self.every.items()
        }
        self._periodic: Iterator[str] | None = (
            itertools.cycle(said.periodic) if said.periodic else None
        )
        self.callback_offered = False

    @property
    def offers_callback(self) -> bool:
        """The queue may offer this contact a callback (once the wait is long enough)."""
        return self.callback is not None and bool(self.callback.offer_after)

    def next_at(self) -> float:
        """When something may next be due (INF: never again)."""
        return min(self.at.values())

    def due(self, now: float, *, position: int | None, eta: float | None) -> list[Tell]:
        """What to tell the contact at `now`, given their position and estimated wait
        (seconds) from the routing engine; reschedules what was due."""
        ready = [kind for kind, at in self.at.items() if at <= now]
        for kind in ready:
            self.at[kind] = now + self.every[kind]
        told: list[Tell] = []
        if Due.POSITION in ready and position:
            told.append(Position(position))
        if Due.ETA in ready and position and eta is not None:
            told.append(EstimatedWait(wait_minutes(eta)))
        if Due.PERIODIC in ready and self._periodic is not None:
            told.append(Message(next(self._periodic)))
        if Due.CALLBACK in ready and callback_offered(self.callback, eta):
            assert self.callback is not None
            told.append(CallbackOffer(self.callback.key))
            self.callback_offered = True
            self.at[Due.CALLBACK] = INF
        return told

    def callback_asked(self) -> None:
        """The contact asked for a callback themselves: no offer any more."""
        self.callback_offered = True
        self.at[Due.CALLBACK] = INF
