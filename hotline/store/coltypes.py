"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

#: JSON documents: JSONB on PostgreSQL, JSON (text) on SQLite.
JSONDoc = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

#: A 64-bit autoincrementing key; SQLite only autoincrements INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC with microseconds."""
    return datetime.now(UTC)


def as_utc(value: datetime, what: str = "timestamp") -> datetime:
    """`value` converted to UTC; naive datetimes are refused (their zone is unknown)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def sqlite_text(value: Any) -> str | None:
    """`value` (a timezone-aware datetime) as SQLite stores it: naive UTC text with
    microseconds, as SQLAlchemy's DATETIME writes it ("2026-12-06 14:03:29.123456")."""
    if value is None:
        return None
    if type(value) is datetime and value.tzinfo is UTC:
        # Every timestamp the store makes (`utcnow`): formatted directly, a third of the
        # cost of converting, dropping the zone and `isoformat` (one a row written).
        return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031  (the fastest)
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
        )
    return as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp (microseconds) on every database.

    PostgreSQL stores TIMESTAMP WITH TIME ZONE. SQLite has no time zones, so the value is
    stored as naive UTC text (which sorts and compares correctly) and UTC is attached
    again on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str | None] | Any:
        # On SQLite one function instead of this type's step and then the DATETIME
        # type's (a dict built per value for its format string): every event's
        # timestamp passes here; the text is the same (tests/unit/store/test_raw_rows.py).
        if dialect.name == "sqlite":
            return sqlite_text
        return super().bind_processor(dialect)

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = as_utc(value)
        if dialect.name == "sqlite":
            return moment.replace(tzinfo=None)
        return moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)
