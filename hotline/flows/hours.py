"""Opening hours: a weekly timetable in a time zone, with holidays."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Span = Annotated[str, Field(pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$", examples=["09:00-17:30"])]


class Schedule(BaseModel):
    """When the hotline is open: `weekly: {mon: ["09:00-17:00"]}`; days left out are closed."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    weekly: dict[Day, list[Span]] = {}
    holidays: list[date] = []

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use e.g. Europe/London)") from None
        return value

    @field_validator("weekly")
    @classmethod
    def _spans(cls, weekly: dict[Day, list[str]]) -> dict[Day, list[str]]:
        for spans in weekly.values():
            for span in spans:
                start, end = _parse_span(span)
                if end != time(0) and end <= start:
                    raise ValueError(f"span {span!r} ends before it starts")
        return weekly

    def is_open(self, moment: datetime) -> bool:
        """Open at this moment (an aware datetime, converted to the schedule's zone)?"""
        local = moment.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        now = local.time().replace(tzinfo=None)
        for span in self.weekly.get(DAYS[local.weekday()], []):
            start, end = _parse_span(span)
            # "18:00-00:00" means until midnight.
            if start <= now and (now < end or end == time(0)):
                return True
        return False


def _parse_span(span: str) -> tuple[time, time]:
    first, last = span.split("-")
    try:
        return time.fromisoformat(first), _end(last)
    except ValueError:
        raise ValueError(f"bad time span {span!r} (use HH:MM-HH:MM)") from None


def _end(text: str) -> time:
    return time(0) if text == "24:00" else time.fromisoformat(text)
