"""Agents' presence from outside the engine — the REST API, a softphone's feature codes:
log in, log out, pause with a reason, unpause; and how an agent stands now."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Literal

from hotline.acd.model import Channel
from hotline.acd.router import RoutingError
from hotline.acd.service import RoutingService
from hotline.acd.states import IllegalTransition

Action = Literal["login", "logout", "pause", "unpause", "ready"]
#: "ready" ends wrap-up early: the agent is available before the queue's wrap-up time.
ACTIONS: tuple[Action, ...] = ("login", "logout", "pause", "unpause", "ready")


class PresenceError(Exception):
    """The change is not possible now; the message says why, for the agent to read."""


#: Why an agent may not end their voice wrap-up now (None: they may), per engine.
ReadyCheck = Callable[[str], str | None]
_ready_checks: weakref.WeakKeyDictionary[RoutingService, ReadyCheck] = weakref.WeakKeyDictionary()


def set_ready_check(routing: RoutingService, check: ReadyCheck) -> None:
    """Consult `check` before "ready" ends an agent's voice wrap-up, from any door (the
    desk, the REST API, the phone's feature code): a queue that requires a wrap-up code
    keeps the agent in wrap-up until the code is given."""
    _ready_checks[routing] = check


async def change_presence(
    routing: RoutingService,
    agent_id: str,
    action: str,
    *,
    reason: str | None = None,
    channels: Iterable[Channel | str] | None = None,
) -> dict[str, Any]:
    """Apply `action` to the agent's channels (all of them when None); their new status."""
    chosen = None if channels is None else [Channel(c) for c in channels]
    try:
        if action == "login":
            await routing.login(agent_id, chosen)
        elif action == "logout":
            await routing.logout(agent_id, chosen)
        elif action == "pause":
            await routing.pause(agent_id, (reason or "break").strip()[:40] or "break", chosen)
        elif action == "unpause":
            await routing.unpause(agent_id, chosen)
        elif action == "ready":
            check = _ready_checks.get(routing)
            if check is not None and (chosen is None or Channel.VOICE in chosen):
                refusal = check(agent_id)
                if refusal is not None:
                    raise PresenceError(refusal)
            every: list[Channel | None] = [None]  # end the wrap-up of every channel
            for channel in chosen or every:
                await routing.end_wrap_up(agent_id, channel)
        else:
            raise PresenceError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    except IllegalTransition as error:
        raise PresenceError(str(error)) from None
    except (RoutingError, ValueError) as error:
        raise PresenceError(str(error)) from None
    return agent_view(routing, agent_id)


def agent_view(routing: RoutingService, agent_id: str) -> dict[str, Any]:
    """Per channel: state, pause reason, seconds in state, contacts held."""
    now = time.monotonic()
    try:
        statuses = routing.agent_status(agent_id)
    except RoutingError as error:
        raise PresenceError(str(error)) from None
    return {
        str(channel): {
            "state": str(status.state),
            "reason": status.reason,
            "seconds": round(max(0.0, now - status.since), 1),
            "load": status.load,
        }
        for channel, status in statuses.items()
    }
