"""Why a call-control command is refused. Each error carries the HTTP status the REST
API answers with; its message is shown to the agent as it is. A refused command leaves
the call as it was."""

from __future__ import annotations

from typing import ClassVar


class CallControlError(Exception):
    """A refused command; `status` is its HTTP status, str(error) the clear text."""

    status: ClassVar[int] = 400


class BadCommand(CallControlError):
    """Bad body, bad target syntax, or a number the dial rules refuse."""

    status = 400


class NotYours(CallControlError):
    """An agent acting on a call that is not theirs."""

    status = 403


class NotFound(CallControlError):
    """No live call for that contact, or an unknown agent or queue as the target."""

    status = 404


class Conflict(CallControlError):
    """The action does not fit the call's state (a transfer already in progress,
    resume of a call not on hold, complete without a consultation, ...)."""

    status = 409
