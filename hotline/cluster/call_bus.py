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

Outbound calls asked of a web process (click-to-call, a callback called by hand:
`RemoteOutbound`, the `OutboundCalls` API) go to any live call worker: every worker
answers on `hotline.outbound.<domain>` in one NATS queue group, so NATS hands each
request to exactly one of them. Any worker will do: the agent's phone is rung through
the SIP edge (Kamailio, the registrar) from any node, and the customer's leg goes out
of the same node. The worker checks and places the call with its own `OutboundCalls`
(its refusals come back with their status and words); no worker is a 503.

A callback cancelled on a web process (`DELETE /api/callbacks/{id}`) is cancelled by
the call worker serving it (the one the routing leader handed it to: it holds its
place at the leader and its dialer): the request goes to every worker on
`hotline.callbacks.<domain>`, and only the worker serving that callback answers
(`CallbackServer`), with the cancelled callback or its refusal (its call under way).

Monitoring (listen, whisper, barge) asked of a web process (`RemoteMonitoring`, the
`Monitoring` API) goes to the worker holding the call, as a call command does; what
is being monitored (the API's listing, the stop's ownership check) is what every
worker said last, asked of all of them on `hotline.monitors.<domain>` each second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from hotline.callbacks.rules import CallbackRefused
from hotline.callbacks.service import CallbackService
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
from hotline.calls.monitor import Mode, Monitoring, MonitorState, parse_mode
from hotline.calls.outbound import OutboundRules
from hotline.calls.outbound_service import OutboundCalls
from hotline.cluster.bus import dumps, loads, nats_request, next_msg, settle, token

log = logging.getLogger(__name__)

#: Seconds a command waits for the worker's answer.
TIMEOUT = 5.0
#: Seconds an outbound call waits for a worker to have the agent's phone ringing (the
#: routing leader is asked on the way: through a failover, its request waits too).
OUTBOUND_TIMEOUT = 20.0
#: The NATS queue group the workers answer outbound requests in (one of them answers).
OUTBOUND_GROUP = "workers"

_ERRORS: dict[str, type[CallControlError]] = {
    "BadCommand": BadCommand,
    "NotYours": NotYours,
    "NotFound": NotFound,
    "Conflict": Conflict,
}


def call_subject(domain: str, worker: str) -> str:
    """Where the worker `worker` of routing domain `domain` takes call-control requests."""
    return f"hotline.calls.{token(domain)}.{token(worker)}"


def monitors_subject(domain: str) -> str:
    """Where every call worker of `domain` says what it is monitoring (all answer)."""
    return f"hotline.monitors.{token(domain)}"


def callbacks_subject(domain: str) -> str:
    """Where the call workers of `domain` take requests about the callbacks they serve
    (only the one serving the callback answers)."""
    return f"hotline.callbacks.{token(domain)}"


def outbound_subject(domain: str) -> str:
    """Where the call workers of `domain` take outbound calls (one of them answers)."""
    return f"hotline.outbound.{token(domain)}"


class NoWorker(CallControlError):
    """No call worker answered an outbound request."""

    status = 503


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


async def _answer(
    msg: Any, serve: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]], what: str
) -> None:
    """Answers `msg` with what `serve` makes of its request, or the refusal as the asker
    raises it again (`ask_holder`)."""
    try:
        answer = await serve(loads(msg.data))
    except CallControlError as refused:
        answer = {"error": str(refused), "kind": type(refused).__name__}
    except (ValueError, KeyError, TypeError) as error:
        answer = {"error": f"bad request: {error}", "kind": "BadCommand"}
    except Exception as error:  # told to the asker, logged here
        log.exception(what)
        answer = {"error": f"the call worker failed: {error}", "kind": "Conflict"}
    with contextlib.suppress(Exception):
        await msg.respond(dumps(answer))


class CallControlServer:
    """A call worker's side: requests for its calls, done by its `CallControl`."""

    def __init__(
        self,
        nc: Any,
        domain: str,
        worker: str,
        control: CallControl,
        outbound: OutboundCalls | None = None,
        monitors: Monitoring | None = None,
    ) -> None:
        """`outbound`: this worker places outbound calls asked on the bus (None: not);
        `monitors`: its monitoring of calls (None: not asked here)."""
        self.nc = nc
        self.subject = call_subject(domain, worker)
        self.outbound_subject = outbound_subject(domain)
        self.monitors_subject = monitors_subject(domain)
        self.control = control
        self.outbound = outbound
        self.monitors = monitors
        self._subs: list[Any] = []

    async def start(self) -> None:
        self._subs.append(await self.nc.subscribe(self.subject, cb=self._on_request))
        if self.monitors is not None:
            self._subs.append(await self.nc.subscribe(self.monitors_subject, cb=self._on_monitors))
        if self.outbound is not None:
            self._subs.append(
                await self.nc.subscribe(
                    self.outbound_subject, queue=OUTBOUND_GROUP, cb=self._on_outbound
                )
            )
        # The server has the subscriptions once this returns: a request sent right after
        # (by any process) finds this worker, not "no responders".
        await settle(self.nc)

    async def stop(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()

    async def _on_outbound(self, msg: Any) -> None:
        await _answer(msg, self._place, "outbound request failed")

    async def _place(self, request: dict[str, Any]) -> dict[str, Any]:
        outbound = self.outbound
        assert outbound is not None
        asker = request.get("asker")
        asker = None if asker is None else str(asker)
        by = str(request.get("by", ""))
        if request["op"] == "call":
            contact_id = await outbound.call(request.get("body"), asker=asker, by=by)
        elif request["op"] == "call_callback":
            contact_id = await outbound.call_callback(
                str(request["callback"]), request.get("body"), asker=asker, by=by
            )
        else:
            raise BadCommand(f"unknown request {request['op']!r}")
        return {"contact_id": contact_id}

    async def _on_request(self, msg: Any) -> None:
        await _answer(msg, self._serve, "call-control request failed")

    async def _on_monitors(self, msg: Any) -> None:
        assert self.monitors is not None
        said = [m.to_json() for m in self.monitors.all()]
        with contextlib.suppress(Exception):
            await msg.respond(dumps({"monitoring": said}))

    async def _serve(self, request: dict[str, Any]) -> dict[str, Any]:
        contact_id = str(request["contact_id"])
        if request["op"] in ("monitor", "monitor_stop"):
            return await self._monitor(contact_id, request)
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

    async def _monitor(self, contact_id: str, request: dict[str, Any]) -> dict[str, Any]:
        if self.monitors is None:
            raise NotFound("this call worker monitors no calls")
        if request["op"] == "monitor":
            mode = parse_mode({"mode": request.get("mode")})
            state = await self.monitors.monitor(contact_id, str(request["supervisor"]), mode)
        else:
            state = await self.monitors.stop(contact_id, str(request["by"]))
        return {"monitor": state.to_json()}


async def ask_holder(
    nc: Any,
    domain: str,
    node_of: Callable[[str], Awaitable[str | None]],
    contact_id: str,
    request: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    """The answer of the call worker holding `contact_id`'s call; its refusal raised as
    the same error it was there."""
    node = await node_of(contact_id)
    if not node:
        raise NotFound(f"contact {contact_id} has no call on any call worker")
    try:
        msg = await nats_request(nc, call_subject(domain, node), dumps(request), timeout)
    except Exception as error:  # no responders, a timeout: that worker is not there
        raise NotFound(
            f"the call worker {node} holding contact {contact_id} does not answer "
            f"({type(error).__name__})"
        ) from None
    answer: dict[str, Any] = loads(msg.data)
    if "error" in answer:
        raise _ERRORS.get(str(answer.get("kind")), Conflict)(str(answer["error"]))
    return answer


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
        answer = await ask_holder(
            self.nc, self.domain, self.node_of, contact_id, request, self.timeout
        )
        if answer.get("state") is None:
            self.states.pop(contact_id, None)
            return None
        state = state_from_wire(answer["state"])
        self.states[contact_id] = state
        return state


class CallbackServer:
    """A call worker's side of the callbacks it serves: a cancel asked on a web process
    is done here, by the worker's own `CallbackService`; a request about a callback
    this worker does not serve is left to the one that does (no answer)."""

    def __init__(self, nc: Any, domain: str, callbacks: CallbackService) -> None:
        self.nc = nc
        self.subject = callbacks_subject(domain)
        self.callbacks = callbacks
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self.subject, cb=self._on_request)
        await settle(self.nc)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _on_request(self, msg: Any) -> None:
        try:
            request = loads(msg.data)
            contact_id, by = str(request["callback"]), str(request.get("by", ""))
        except (ValueError, KeyError, TypeError):
            return  # not ours to answer: the asker times out with its own words
        if request.get("op") != "cancel":
            return
        # Handed here a moment ago (the leader logs the hand-over, then asks): this
        # worker serves it once its `adopt` is done.
        await self.callbacks.adopted(contact_id)
        if contact_id not in self.callbacks.serving():
            return
        answer: dict[str, Any]
        try:
            cancelled = await self.callbacks.cancel(contact_id, by=by)
            answer = {"callback": cancelled.contact_id}
        except CallbackRefused as refused:
            answer = {"error": str(refused), "reason": refused.reason}
        except LookupError as error:
            answer = {"error": str(error), "reason": "not_open"}
        except Exception as error:  # told to the asker, logged here
            log.exception("callback cancel failed")
            answer = {"error": f"the call worker failed: {error}", "reason": "failed"}
        with contextlib.suppress(Exception):
            await msg.respond(dumps(answer))


async def cancel_on_worker(
    nc: Any, domain: str, contact_id: str, by: str, *, timeout: float = TIMEOUT
) -> None:
    """Have the call worker serving callback `contact_id` cancel it. CallbackRefused
    with the worker's words, or "unserved" when no worker serves it now; LookupError
    when it is no longer open."""
    request = {"op": "cancel", "callback": contact_id, "by": by}
    try:
        msg = await nats_request(nc, callbacks_subject(domain), dumps(request), timeout)
    except (NoRespondersError, NatsTimeout):
        raise CallbackRefused(
            "unserved",
            f"no call worker serves callback {contact_id} now (the routing leader hands "
            "each open callback to one within seconds): nothing was cancelled; try again",
        ) from None
    answer = loads(msg.data)
    if answer.get("reason") == "not_open":
        raise LookupError(str(answer["error"]))
    if "error" in answer:
        raise CallbackRefused(str(answer.get("reason", "refused")), str(answer["error"]))


class RemoteOutbound:
    """`OutboundCalls` on a web process: the call is placed by one live call worker
    (module docstring); the desk's choice of queues is answered here, from the config."""

    def __init__(
        self, nc: Any, domain: str, rules: OutboundRules, *, timeout: float = OUTBOUND_TIMEOUT
    ) -> None:
        self.nc = nc
        self.subject = outbound_subject(domain)
        self.rules = rules
        self.timeout = timeout

    def options(self, asker: str | None) -> dict[str, object]:
        if asker is None:
            return {"agent": None, "queues": sorted(self.rules.caller_ids)}
        return {"agent": asker, "queues": list(self.rules.agent_queues.get(asker, ()))}

    async def call(self, body: object, *, asker: str | None, by: str) -> str:
        return await self._ask({"op": "call", "body": body, "asker": asker, "by": by})

    async def call_callback(
        self, contact_id: str, body: object, *, asker: str | None, by: str
    ) -> str:
        request = {
            "op": "call_callback",
            "callback": contact_id,
            "body": body,
            "asker": asker,
            "by": by,
        }
        return await self._ask(request)

    async def _ask(self, request: dict[str, Any]) -> str:
        try:
            msg = await nats_request(self.nc, self.subject, dumps(request), self.timeout)
        except NoRespondersError:
            raise NoWorker("no call worker is up to place the call; nothing was placed") from None
        except NatsTimeout:
            # A worker took it and did not answer in time: it may still ring the agent.
            raise NoWorker(
                f"no call worker answered within {self.timeout:.0f} s; "
                "the call may still be placed: see the agent's phone"
            ) from None
        answer = loads(msg.data)
        if "error" in answer:
            raise _ERRORS.get(str(answer.get("kind")), Conflict)(str(answer["error"]))
        return str(answer["contact_id"])


def monitor_from_wire(data: dict[str, Any]) -> MonitorState:
    return MonitorState(
        contact_id=str(data["contact_id"]),
        supervisor=str(data["supervisor"]),
        agent=str(data["agent"]),
        mode=parse_mode({"mode": data["mode"]}),
        state=str(data["state"]),
        seconds=float(data["seconds"]),
    )


class RemoteMonitoring:
    """`Monitoring` on a web process: started and stopped by the worker holding the call
    (its `asterisk_node`); what goes on is what the workers said at the last `poll`
    (or in their answers since)."""

    def __init__(
        self,
        nc: Any,
        domain: str,
        node_of: Callable[[str], Awaitable[str | None]],
        *,
        timeout: float = TIMEOUT,
        gather: float = 0.3,
    ) -> None:
        """`gather`: seconds `poll` collects the workers' answers."""
        self.nc = nc
        self.domain = domain
        self.node_of = node_of
        self.timeout = timeout
        self.gather = gather
        self.subject = monitors_subject(domain)
        self.known: dict[str, MonitorState] = {}

    def of_contact(self, contact_id: str) -> MonitorState | None:
        return self.known.get(contact_id)

    def all(self) -> list[MonitorState]:
        return list(self.known.values())

    async def monitor(self, contact_id: str, supervisor: str, mode: Mode) -> MonitorState:
        request = {"op": "monitor", "contact_id": contact_id, "supervisor": supervisor}
        return await self._ask(contact_id, {**request, "mode": mode})

    async def stop(self, contact_id: str, by: str) -> MonitorState:
        return await self._ask(
            contact_id, {"op": "monitor_stop", "contact_id": contact_id, "by": by}
        )

    async def _ask(self, contact_id: str, request: dict[str, Any]) -> MonitorState:
        answer = await ask_holder(
            self.nc, self.domain, self.node_of, contact_id, request, self.timeout
        )
        state = monitor_from_wire(answer["monitor"])
        if state.state == "ended":
            self.known.pop(contact_id, None)
        else:
            self.known[contact_id] = state
        return state

    async def poll(self) -> None:
        """Ask every worker what it monitors now (those answering within `gather` s)."""
        inbox = self.nc.new_inbox()
        said: dict[str, MonitorState] = {}
        sub = await self.nc.subscribe(inbox)
        try:
            await self.nc.publish(self.subject, b"", reply=inbox)
            loop = asyncio.get_running_loop()
            until = loop.time() + self.gather
            while (left := until - loop.time()) > 0:
                try:
                    msg = await next_msg(sub, left)
                except NatsTimeout:
                    break
                for item in loads(msg.data).get("monitoring", []):
                    state = monitor_from_wire(item)
                    said[state.contact_id] = state
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self.known = said


async def follow_monitors(monitoring: RemoteMonitoring, every: float = 1.0) -> None:
    """Forever: what every worker monitors, each `every` s."""
    while True:
        try:
            await monitoring.poll()
        except Exception as error:  # the bus away: the last known stays
            log.debug("monitors poll: %s", error)
        await asyncio.sleep(every)
