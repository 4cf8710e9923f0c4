"""Call control across processes: a desk (or the REST API) on a web process acts on a
live call that a call worker holds.

The worker that holds a call is its contact's `asterisk_node` (the worker's name,
`host/asterisk-instance`, written when the call arrived). Each call worker answers on
`hotline.calls.<domain>.<worker>` (`CallControlServer`, with its real `CallControl`,
ari_app/call_control.py); a web process's `RemoteCallControl` has the `CallControl`
API and asks the worker named by the contact. A command refused there comes back as the
same error (`BadCommand`, `NotYours`, `NotFound`, `Conflict`: the same HTTP status and
text); no worker answering is a `NotFound` saying so. The call's state the desk shows
is the last the worker said (each command's answer, and `refresh`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hotline.calls import (
    BadCommand,
    CallControl,
    CallControlError,
    CallState,
    Command,
    Conflict,
    ConsultState,
    NotFound,
    NotYours,
    parse_command,
)
from hotline.cluster.bus import dumps, loads, token

log = logging.getLogger(__name__)

#: Seconds a command waits for the worker's answer.
TIMEOUT = 5.0

_ERRORS: dict[str, type[CallControlError]] = {
    "BadCommand": BadCommand,
    "NotYours": NotYours,
    "NotFound": NotFound,
    "Conflict": Conflict,
}


def call_subject(domain: str, worker: str) -> str:
    """Where the worker `worker` of routing domain `domain` takes call-control requests."""
    return f"hotline.calls.{token(domain)}.{token(worker)}"


def state_from_wire(data: dict[str, Any]) -> CallState:
    consult = data.get("consult")
    return CallState(
        contact_id=str(data["contact_id"]),
        agent=str(data["agent"]),
        queue=str(data["queue"]),
        held=bool(data["held"]),
        hold_seconds=float(data["hold_seconds"]),
        consult=None if consult is None else ConsultState(**consult),
        conference=bool(data["conference"]),
    )


def command_to_wire(command: Command) -> dict[str, Any]:
    """The REST body the command was parsed from (parsed again by the worker)."""
    if command.target is None:
        return {}
    return {"to": str(command.target), "note": command.note}


class CallControlServer:
    """A call worker's side: requests for its calls, done by its `CallControl`."""

    def __init__(self, nc: Any, domain: str, worker: str, control: CallControl) -> None:
        self.nc = nc
        self.subject = call_subject(domain, worker)
        self.control = control
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.subject, cb=self._on_request)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _on_request(self, msg: Any) -> None:
        try:
            answer = await self._serve(loads(msg.data))
        except CallControlError as refused:
            answer = {"error": str(refused), "kind": type(refused).__name__}
        except (ValueError, KeyError, TypeError) as error:
            answer = {"error": f"bad request: {error}", "kind": "BadCommand"}
        except Exception as error:  # told to the asker, logged here
            log.exception("call-control request failed")
            answer = {"error": f"the call worker failed: {error}", "kind": "Conflict"}
        with contextlib.suppress(Exception):
            await msg.respond(dumps(answer))

    async def _serve(self, request: dict[str, Any]) -> dict[str, Any]:
        contact_id = str(request["contact_id"])
        if request["op"] == "state":
            state = self.control.state(contact_id)
        elif request["op"] == "act":
            command = parse_command(str(request["action"]), request.get("body"))
            by_agent = request.get("by_agent")
            state = await self.control.act(
                contact_id,
                command,
                by_agent=None if by_agent is None else str(by_agent),
                by=str(request.get("by", "")),
            )
        else:
            raise BadCommand(f"unknown request {request['op']!r}")
        return {"state": None if state is None else state.to_json()}


class RemoteCallControl:
    """`CallControl` on a web process: each command goes to the worker holding the call."""

    def __init__(
        self,
        nc: Any,
        domain: str,
        node_of: Callable[[str], Awaitable[str | None]],
        *,
        timeout: float = TIMEOUT,
    ) -> None:
        """`node_of`: the worker holding a contact's call (its `asterisk_node`)."""
        self.nc = nc
        self.domain = domain
        self.node_of = node_of
        self.timeout = timeout
        #: The last state each worker said of its calls (the desk's call panel).
        self.states: dict[str, CallState] = {}

    def state(self, contact_id: str) -> CallState | None:
        return self.states.get(contact_id)

    def live_of_agent(self, agent: str) -> str | None:
        for contact_id, state in self.states.items():
            if state.agent == agent:
                return contact_id
        return None

    async def act(
        self, contact_id: str, command: Command, *, by_agent: str | None, by: str = ""
    ) -> CallState:
        request = {
            "op": "act",
            "contact_id": contact_id,
            "action": command.action,
            "body": command_to_wire(command),
            "by_agent": by_agent,
            "by": by,
        }
        state = await self._ask(contact_id, request)
        if state is None:
            raise NotFound(f"contact {contact_id} has no live call with an agent")
        return state

    async def refresh(self, contact_id: str) -> CallState | None:
        """Ask the worker where the call stands now (None: it has no such call)."""
        try:
            return await self._ask(contact_id, {"op": "state", "contact_id": contact_id})
        except NotFound:
            self.states.pop(contact_id, None)
            return None

    async def _ask(self, contact_id: str, request: dict[str, Any]) -> CallState | None:
        node = await self.node_of(contact_id)
        if not node:
            raise NotFound(f"contact {contact_id} has no call on any call worker")
        try:
            msg = await self.nc.request(
                call_subject(self.domain, node), dumps(request), timeout=self.timeout
            )
        except Exception as error:  # no responders, a timeout: that worker is not there
            raise NotFound(
                f"the call worker {node} holding contact {contact_id} does not answer "
                f"({type(error).__name__})"
            ) from None
        answer = loads(msg.data)
        if "error" in answer:
            raise _ERRORS.get(str(answer.get("kind")), Conflict)(str(answer["error"]))
        if answer.get("state") is None:
            self.states.pop(contact_id, None)
            return None
        state = state_from_wire(answer["state"])
        self.states[contact_id] = state
        return state
