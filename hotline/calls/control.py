"""The `CallControl` Protocol: what the web (REST API, desk) asks of live calls."""

from __future__ import annotations

from typing import Protocol

from hotline.calls.commands import Command
from hotline.calls.errors import NotYours
from hotline.calls.state import CallState


class CallControl(Protocol):
    def state(self, contact_id: str) -> CallState | None:
        """The live call of that contact with an agent, None if there is none."""
        ...

    def live_of_agent(self, agent: str) -> str | None:
        """The contact of the agent's live call, None if they have none."""
        ...

    async def act(
        self, contact_id: str, command: Command, *, by_agent: str | None, by: str = ""
    ) -> CallState:
        """Carry out `command` on the contact's live call; its state afterwards.

        `by_agent`: the agent who asks (they may only act on their own calls), None for
        a supervisor or a program; `by`: who asks, as logged (a user id). Raises a
        `CallControlError` (the call untouched): NotFound, NotYours, Conflict or
        BadCommand."""
        ...


def check_owner(state: CallState, by_agent: str | None) -> None:
    """NotYours unless `by_agent` is None (a supervisor) or the call's agent."""
    if by_agent is not None and by_agent != state.agent:
        raise NotYours(
            f"contact {state.contact_id} is {state.agent}'s call; "
            "an agent may only control their own calls"
        )
