"""Transfer and consultation targets: `agent:<id>`, `queue:<name>` or `number:<digits>`.

Only the syntax is checked here; whether the agent or queue exists, and whether the
number passes the dial rules (`hotline/callbacks/rules.py`), is for the implementation
that knows the configuration."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from hotline.calls.errors import BadCommand

TargetKind = Literal["agent", "queue", "number"]
KINDS: tuple[TargetKind, ...] = get_args(TargetKind)

#: Agent ids and queue names as the config allows them.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
#: A number as typed: digits, an optional leading +, formatting the dial rules strip.
_NUMBER = re.compile(r"^\+?[0-9][0-9\s\-().]{0,39}$")


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_target(text: object) -> Target:
    """'agent:bob' -> Target('agent', 'bob'); BadCommand with a clear text otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise BadCommand(
            'the target ("to") must be a text like "agent:bob", "queue:sales" or "number:5551234"'
        )
    kind, sep, value = text.strip().partition(":")
    if not sep or kind not in KINDS:
        raise BadCommand(
            f"target {text!r} must start with agent:, queue: or number: "
            '(e.g. "agent:bob", "queue:sales", "number:5551234")'
        )
    value = value.strip()
    if kind == "number":
        if not _NUMBER.match(value):
            raise BadCommand(f"target {text!r}: {value!r} is not a phone number (digits only)")
        return Target("number", value)
    if not _NAME.match(value):
        raise BadCommand(
            f"target {text!r}: {value!r} is not a valid {kind} id "
            "(letters, digits, '_', '.', '-'; at most 64)"
        )
    return Target("agent" if kind == "agent" else "queue", value)
