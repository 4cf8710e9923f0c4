"""Call control: what an agent (or a supervisor) does with a live call — hold, resume,
transfer, consult, then complete, conference or cancel the consultation.

Channel-neutral and with no Asterisk in it: the commands and their validation
(`commands.py`), the transfer targets (`targets.py`), the errors with the HTTP status
they map to (`errors.py`), a call's visible state and the hold clock (`state.py`), and
the `CallControl` Protocol (`control.py`) the web and the desk code against; the voice
adapter implements it (`ari_app/call_control.py`).
"""

from hotline.calls.commands import ACTIONS, Action, Command, parse_command
from hotline.calls.control import CallControl, check_owner
from hotline.calls.errors import (
    BadCommand,
    CallControlError,
    Conflict,
    NotFound,
    NotYours,
)
from hotline.calls.state import CallState, ConsultState, HoldClock
from hotline.calls.targets import Target, parse_target

__all__ = [
    "ACTIONS",
    "Action",
    "BadCommand",
    "CallControl",
    "CallControlError",
    "CallState",
    "Command",
    "Conflict",
    "ConsultState",
    "HoldClock",
    "NotFound",
    "NotYours",
    "Target",
    "check_owner",
    "parse_command",
    "parse_target",
]
