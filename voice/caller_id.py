"""Caller ids: what an agent's phone shows, and the number inside one."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"<([^>]*)>")


def caller_id(name: str | None, number: str) -> str:
    """What an agent's (or transfer target's) phone shows: the customer's name from
    their record when there is one, and the number."""
    clean = "".join(c for c in (name or "") if c not in '"<>\\\r\n').strip()[:60]
    return f'"{clean}" <{number}>' if clean else number


def number_of(caller_id: str) -> str:
    """'"Name" <5551234>' -> '5551234'; a bare number stays as it is."""
    found = _NUMBER.search(caller_id or "")
    return (found.group(1) if found else caller_id or "").strip()
