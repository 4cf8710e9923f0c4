"""JSON text of the store's documents (event data, variables, attributes), made once.

Every event's `data` is checked to be storable as JSON when it is appended, and the text
made then is what the row stores: one serialisation per event (it was two with the
standard library's `json.dumps`, one to check and one in SQLAlchemy's bind processor,
and each cost about six times orjson's). The store's engines use the same function as
their `json_serializer`, so a row written through SQLAlchemy holds the same text as one
written through the driver (hotline/store/raw_rows.py).

orjson writes compact text (no spaces) and non-ASCII characters as they are; values it
cannot write (an integer beyond 64 bits) fall back to the standard library, and what
neither can write raises TypeError or ValueError as `json.dumps` does. Datetimes and
dataclasses are refused as the standard library refuses them (orjson would write
them), so what was not storable before is not now either. Two widenings remain: orjson
writes a UUID and an Enum member as their text and value (refused before), and a NaN
or an infinity as null (the standard library wrote `NaN`, which is not JSON: PostgreSQL
refused it).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

#: Keys that are not strings are written as JSON keys (as `json.dumps` does), datetimes
#: and dataclasses go to the fallback (which refuses them).
OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def dumps(value: Any) -> str:
    """`value` as JSON text; TypeError or ValueError if it cannot be."""
    try:
        return orjson.dumps(value, option=OPTIONS).decode()
    except TypeError:
        # orjson's limits (big integers, the passed-through types): the standard
        # library writes what it can, and its error names what it cannot.
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
