"""The pure callback rules: number validation with its error texts, limits per number,
retries, and when a scheduled callback becomes active."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hotline.callbacks.rules import (
    CallbackRefused,
    NumberHistory,
    activation,
    next_open,
    normalize_number,
    refuse_flood,
    refuse_own,
    retry_at,
)
from hotline.callbacks.settings import CallbackConfig, QueueCallback
from hotline.flows.hours import Schedule

CONFIG = CallbackConfig(min_length=5, max_length=12, max_pending_per_number=2)


def refused(call, *args) -> CallbackRefused:
    with pytest.raises(CallbackRefused) as caught:
        call(*args)
    return caught.value


def test_numbers_are_normalised_as_dialed() -> None:
    assert normalize_number("+44 20 7946-0000", CONFIG) == "+442079460000"
    assert normalize_number("(555) 012.3456", CONFIG) == "5550123456"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("12ab5678", "'12ab5678' is not a phone number (digits only)"),
        ("", "'' is not a phone number (digits only)"),
        ("1234", "'1234' has 4 digits; a callback number has 5 to 12"),
        ("1234567890123", "'1234567890123' has 13 digits; a callback number has 5 to 12"),
        ("٥٥٥١٢٣٤", "'٥٥٥١٢٣٤' is not a phone number (digits only)"),
    ],
)
def test_bad_numbers_are_refused_with_the_reason(raw: str, message: str) -> None:
    error = refused(normalize_number, raw, CONFIG)
    assert error.reason == "invalid" and str(error) == message
    assert error.prompt == "callback_invalid_number"


def test_only_allowed_prefixes() -> None:
    config = CallbackConfig(allowed_prefixes=["+44", "0"])
    assert normalize_number("020 7946 0000", config) == "02079460000"
    error = refused(normalize_number, "+1 555 0100 200", config)
    assert error.reason == "prefix"
    assert str(error) == "'+1 555 0100 200' does not start with an allowed prefix (+44, 0)"


def test_the_hotlines_own_number_is_refused() -> None:
    error = refused(refuse_own, "+15550100", ["100", "15550100"])
    assert error.reason == "own_number" and error.prompt == "callback_own_number"
    assert str(error) == "+15550100 is the hotline's own number: it cannot be called back"
    refuse_own("5550199", ["100", "15550100"])  # someone else's number passes


def test_nothing_booked_twice_and_limits_per_number() -> None:
    error = refused(refuse_flood, "5551234", "support", NumberHistory(("support",), 1), CONFIG)
    assert error.reason == "already_booked"
    assert str(error) == "5551234 already has a callback waiting in queue support"
    error = refused(refuse_flood, "5551234", "sales", NumberHistory(("a", "b"), 2), CONFIG)
    assert error.reason == "too_many"
    assert str(error) == "5551234 already has 2 callbacks waiting (at most 2)"
    error = refused(refuse_flood, "5551234", "sales", NumberHistory((), 5), CONFIG)
    assert str(error) == "5551234 booked 5 callbacks in the last hour (at most 5)"
    refuse_flood("5551234", "sales", NumberHistory(("support",), 4), CONFIG)


def test_retries_until_the_attempts_are_used() -> None:
    settings = QueueCallback(attempts=3, retry_delay=120)
    now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert retry_at(1, settings, now) == now + timedelta(seconds=120)
    assert retry_at(2, settings, now) == now + timedelta(seconds=120)
    assert retry_at(3, settings, now) is None


OFFICE = Schedule(
    timezone="Europe/London",
    weekly={d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    holidays=["2026-01-06"],
)


def test_next_opening_skips_nights_weekends_and_holidays() -> None:
    monday_noon = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert next_open(OFFICE, monday_noon) == monday_noon  # open now
    monday_night = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
    # Tuesday 6 January is a holiday: Wednesday at nine, London time (UTC in winter).
    assert next_open(OFFICE, monday_night) == datetime(2026, 1, 7, 9, 0, tzinfo=UTC)
    saturday = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    assert next_open(OFFICE, saturday) == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    assert next_open(Schedule(weekly={}), saturday) is None


def test_scheduled_callbacks_become_active_within_the_queues_hours() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert activation(None, None, now) is None  # at once
    assert activation(None, OFFICE, now) is None  # open now: at once
    later = now + timedelta(hours=2)
    assert activation(later, None, now) == later
    assert activation(now - timedelta(hours=1), None, now) is None  # past: at once
    evening = datetime(2026, 1, 5, 19, 0, tzinfo=UTC)
    assert activation(evening, OFFICE, now) == datetime(2026, 1, 7, 9, 0, tzinfo=UTC)
    error = refused(activation, None, Schedule(weekly={}), now)
    assert error.reason == "no_callbacks"


def test_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(ValidationError, match="dial_template must contain"):
        CallbackConfig(dial_template="PJSIP/trunk")
    with pytest.raises(ValidationError, match=r"only the \{number\} placeholder"):
        CallbackConfig(dial_template="PJSIP/{number}@{trunk}")
    with pytest.raises(ValidationError, match="offer_after needs a key"):
        QueueCallback(offer_after=60)
    with pytest.raises(ValidationError, match="needs a url"):
        QueueCallback(abandoned={"action": "hook"})
    assert QueueCallback(key=5).key == "5"
    assert CallbackConfig(dial_template="PJSIP/{number}@trunk").dial_string("555") == (
        "PJSIP/555@trunk"
    )
