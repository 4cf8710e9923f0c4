"""Phone number normalisation: the key customers are identified by."""

from __future__ import annotations

import re

_FORMATTING = re.compile(r"[\s\-().\u00a0/]")
_PHONE = re.compile(r"\+?[0-9]{2,31}")


def normalize_phone(raw: str) -> str | None:
    """`raw` without formatting ("+1 (555) 010-2030" -> "+15550102030"), or None if not a number.

    Only spaces, dashes, dots, slashes and parentheses are dropped, and a leading "00" is
    not rewritten: numbers are kept as the network delivered them, so the same caller
    maps to the same customer. Caller ids such as "anonymous" or "alice" give None.
    """
    number = _FORMATTING.sub("", raw or "")
    return number if _PHONE.fullmatch(number) else None
