"""A location shared from the widget: the frame checked, stored as a rich location."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chat_bridge.protocol import ProtocolError, SharedLocation, parse


def frame(**fields: Any) -> str:
    return json.dumps({"type": "location", "id": "l1", **fields})


def test_a_location() -> None:
    shared = parse(frame(latitude=55.7558, longitude=37.6173))
    assert shared == SharedLocation(type="location", id="l1", latitude=55.7558, longitude=37.6173)
    assert parse(frame(latitude=-90, longitude=180)).longitude == 180


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"latitude": 95, "longitude": 0}, "latitude: Input should be less than or equal to 90"),
        ({"latitude": 0, "longitude": -181}, "longitude: Input should be greater than or equal"),
        ({"latitude": "north", "longitude": 0}, "latitude: Input should be a valid number"),
        ({"longitude": 0}, "latitude: Field required"),
        ({"latitude": 0, "longitude": 0, "title": "x"}, "title: Extra inputs are not permitted"),
    ],
)
def test_bad_locations(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse(frame(**fields))
    assert refused.value.code == "bad_message"
    assert str(refused.value).startswith(f"location: {message}")


def test_not_a_number_is_refused() -> None:
    # Python's JSON reads NaN and Infinity; a location must be a real place.
    for raw in (
        '{"type": "location", "id": "l1", "latitude": NaN, "longitude": 0}',
        '{"type": "location", "id": "l1", "latitude": 0, "longitude": Infinity}',
    ):
        with pytest.raises(ProtocolError, match="finite number"):
            parse(raw)
