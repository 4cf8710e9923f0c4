"""SQLite's text of a timestamp: the direct formatting of UTC datetimes is the same text
as the conversion's, and bad values are refused by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hotline.store.coltypes import sqlite_text


def _converted(value: datetime) -> str:
    """The general path: to UTC, zone dropped, ISO text with microseconds."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class _Sub(datetime):
    """A datetime subclass (as some libraries make): takes the general path."""


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 7, 0, 45, 3, 123456, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 0, tzinfo=UTC),  # microseconds still written
        datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),  # the year padded to four digits
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime.now(UTC),
    ],
)
def test_utc_timestamps_are_written_as_the_conversion_writes_them(value: datetime) -> None:
    assert sqlite_text(value) == _converted(value)
    assert len(sqlite_text(value) or "") == 26


def test_other_zones_and_subclasses_are_converted_to_utc() -> None:
    paris = datetime(2026, 12, 7, 1, 45, 3, 5, tzinfo=timezone(timedelta(hours=1)))
    assert sqlite_text(paris) == "2026-12-07 00:45:03.000005"
    sub = _Sub(2026, 12, 7, 0, 45, 3, 5, tzinfo=UTC)
    assert sqlite_text(sub) == "2026-12-07 00:45:03.000005"
    assert sqlite_text(None) is None


def test_naive_and_non_datetime_values_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="timestamp must be timezone-aware, got naive"):
        sqlite_text(datetime(2026, 12, 7, 0, 45))
    with pytest.raises(TypeError, match="timestamp must be a datetime, got str"):
        sqlite_text("2026-12-07 00:45:00")
