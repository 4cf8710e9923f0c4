"""Pure callback rules: which numbers may be called back, when an entry becomes active,
and what happens after a failed attempt. No I/O, no clock: times are passed in."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hotline.callbacks.settings import CallbackConfig, QueueCallback
from hotline.flows.hours import DAYS, Schedule, _parse_span

_FORMATTING = re.compile(r"[\s\-().\u00a0/]")

#: Why a number or a booking is refused -> the prompt the caller hears.
PROMPTS = {
    "invalid": "callback_invalid_number",
    "prefix": "callback_invalid_number",
    "own_number": "callback_own_number",
    "already_booked": "callback_already_booked",
    "too_many": "callback_too_many",
    "no_callbacks": "callback_unavailable",
}


class CallbackRefused(ValueError):
    """A callback that cannot be booked; `reason` is one of PROMPTS, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def prompt(self) -> str:
        return PROMPTS[self.reason]


def normalize_number(raw: str, config: CallbackConfig) -> str:
    """The number as it is dialed ("+44 20 7946-0000" -> "+442079460000"), or
    CallbackRefused: not digits, too short or long, a prefix not allowed."""
    number = _FORMATTING.sub("", raw or "")
    digits = number.removeprefix("+")
    if not digits.isdigit() or not digits.isascii():
        raise CallbackRefused("invalid", f"{raw!r} is not a phone number (digits only)")
    if not config.min_length <= len(digits) <= config.max_length:
        raise CallbackRefused(
            "invalid",
            f"{raw!r} has {len(digits)} digits; a callback number has "
            f"{config.min_length} to {config.max_length}",
        )
    if config.allowed_prefixes and not number.startswith(tuple(config.allowed_prefixes)):
        raise CallbackRefused(
            "prefix",
            f"{raw!r} does not start with an allowed prefix ({', '.join(config.allowed_prefixes)})",
        )
    return number


def refuse_own(number: str, own: Iterable[str]) -> None:
    """CallbackRefused if `number` is one of the hotline's own numbers (a loop)."""
    mine = {_FORMATTING.sub("", n).removeprefix("+") for n in own}
    if number.removeprefix("+") in mine:
        raise CallbackRefused(
            "own_number", f"{number} is the hotline's own number: it cannot be called back"
        )


@dataclass(frozen=True)
class NumberHistory:
    """What the store knows of a number: pending callbacks (by queue) and bookings
    made in the last hour."""

    pending_queues: tuple[str, ...]
    booked_last_hour: int


def refuse_flood(number: str, queue: str, history: NumberHistory, config: CallbackConfig) -> None:
    """Nothing booked twice, and limits per number."""
    if queue in history.pending_queues:
        raise CallbackRefused(
            "already_booked", f"{number} already has a callback waiting in queue {queue}"
        )
    if len(history.pending_queues) >= config.max_pending_per_number:
        raise CallbackRefused(
            "too_many",
            f"{number} already has {len(history.pending_queues)} callbacks waiting "
            f"(at most {config.max_pending_per_number})",
        )
    if history.booked_last_hour >= config.max_requests_per_hour:
        raise CallbackRefused(
            "too_many",
            f"{number} booked {history.booked_last_hour} callbacks in the last hour "
            f"(at most {config.max_requests_per_hour})",
        )


def retry_at(attempts_made: int, settings: QueueCallback, now: datetime) -> datetime | None:
    """When to try again after a failed attempt; None when no attempt is left."""
    if attempts_made >= settings.attempts:
        return None
    return now + timedelta(seconds=settings.retry_delay)


def next_open(schedule: Schedule, moment: datetime, horizon_days: int = 400) -> datetime | None:
    """The first instant at or after `moment` when `schedule` is open (None if it never
    opens within the horizon)."""
    zone = ZoneInfo(schedule.timezone)
    local = moment.astimezone(zone)
    if schedule.is_open(moment):
        return moment
    for offset in range(horizon_days + 1):
        day = local.date() + timedelta(days=offset)
        if day in schedule.holidays:
            continue
        starts = sorted(
            _parse_span(span)[0] for span in schedule.weekly.get(DAYS[day.weekday()], [])
        )
        for start in starts:
            at = datetime.combine(day, start, tzinfo=zone)
            if at >= local:
                return at
    return None


def activation(
    requested: datetime | None, schedule: Schedule | None, now: datetime
) -> datetime | None:
    """When a callback becomes active: the requested time (or now), moved on to the
    queue's next opening. None means at once."""
    at = max(requested, now) if requested is not None else now
    if schedule is not None:
        opened = next_open(schedule, at)
        if opened is None:
            raise CallbackRefused(
                "no_callbacks", "the queue's callback schedule never opens: cannot book"
            )
        at = opened
    return None if at <= now else at
