"""Run a flow: walk its nodes, drive the port, emit events, never crash.

The interpreter is pure: it imports no Asterisk and no HTTP library. Every effect goes
through the port (the caller) or the services (the rest of Hotline), and everything it
decides is reported through `emit` as it happens:

    flow.started  {flow, version, depth}      flow.ended   {flow, outcome, node, depth}
    flow.node     {flow, node, type}          flow.outcome {flow, node, outcome, next}
    flow.input    {flow, node, digits, result: match|invalid|timeout}
    flow.variable {flow, name, value}         flow.language {flow, language}
    flow.error    {flow, node, message}

Sensitive digits and variables are masked as "***". `depth` is 0 for the flow that was
run and 1+ inside subflows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, NoReturn

from hotline.errors import error_text
from hotline.flows.loader import FlowSet, LoadedFlow
from hotline.flows.model import FILES_DIR, ReturnNode
from hotline.flows.port import CallerGone, FlowPort
from hotline.flows.services import FlowServices
from hotline.flows.steps import STEPS, Context, Emit, FlowFailure

log = logging.getLogger(__name__)

#: Subflows calling subflows deeper than this are a loop, not a design.
MAX_DEPTH = 8


@dataclass
class FlowResult:
    """How a run ended: `outcome` is a hangup/return node's outcome, "hangup" when the
    caller left, or "error"."""

    outcome: str
    variables: dict[str, Any]
    language: str
    #: Node ids in the order run; subflow nodes as "flow/node".
    path: list[str] = field(default_factory=list)
    #: Variables that held sensitive input: never logged or stored.
    sensitive: set[str] = field(default_factory=set)

    def public_variables(self) -> dict[str, Any]:
        """The variables safe to keep with the contact."""
        return {k: v for k, v in self.variables.items() if k not in self.sensitive}


class _Ended(Exception):
    """Stops the whole run (hangup node, error, step limit), even from inside a subflow."""

    def __init__(self, outcome: str, node: str | None) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.node = node


async def _ignore(type: str, data: dict[str, Any]) -> None:
    return None


class FlowRunner:
    """Runs flows from a FlowSet for one contact, over one port."""

    def __init__(
        self,
        flowset: FlowSet,
        port: FlowPort,
        services: FlowServices,
        emit: Emit | None = None,
        max_steps: int = 500,
    ) -> None:
        self.flowset = flowset
        self.port = port
        self.services = services
        self.emit = emit if emit is not None else _ignore
        self.max_steps = max_steps
        self._steps = 0
        self._path: list[str] = []
        self._last: str | None = None
        self._state: dict[str, Any] = {}
        self._message: str | None = None  # why the last node failed, for flow.outcome

    async def run(
        self, flow_name: str, variables: dict[str, Any] | None = None, language: str = "en"
    ) -> FlowResult:
        """Run a flow to its end; the outcome is never an exception."""
        self._steps, self._path, self._last = 0, [], None
        self._state = {"language": language}
        self._sensitive: set[str] = set()
        result_vars: dict[str, Any] = dict(variables or {})
        try:
            outcome, _ = await self._run_flow(flow_name, result_vars, depth=0)
        except CallerGone:
            outcome = "hangup"
            await self.emit("flow.ended", self._ended(flow_name, outcome))
        except _Ended as end:
            outcome = end.outcome
            await self.emit("flow.ended", self._ended(flow_name, outcome))
        return FlowResult(
            outcome, result_vars, self._state["language"], self._path, set(self._sensitive)
        )

    def _ended(self, flow_name: str, outcome: str) -> dict[str, Any]:
        return {"flow": flow_name, "outcome": outcome, "node": self._last, "depth": 0}

    async def _run_flow(
        self, name: str, variables: dict[str, Any], depth: int
    ) -> tuple[str, dict[str, Any]]:
        """Run one flow (or subflow) until a `return`; hangups and errors raise _Ended."""
        problem = (
            f"no flow named {name!r}"
            if name not in self.flowset
            else f"subflows nested deeper than {MAX_DEPTH}"
            if depth > MAX_DEPTH
            else None
        )
        if problem and depth == 0:
            await self._error(name, None, problem)
        if problem:
            raise FlowFailure(problem)  # the subflow node's `error` outcome may handle it
        loaded = self.flowset[name]
        flow = loaded.flow
        declared = flow.declared()
        # Fill in place: run() keeps this dict to report variables however the run ends.
        for key, decl in declared.items():
            variables.setdefault(key, decl.default)
        ctx = Context(
            flow=flow,
            node_id=flow.start,
            port=self.port,
            services=self.services,
            emit=self.emit,
            variables=variables,
            state=self._state,
            sensitive={k for k, d in declared.items() if d.sensitive},
            subflow=lambda child, inputs: self._run_flow(child, inputs, depth + 1),
            files=loaded.path.parent / FILES_DIR,
        )
        if depth == 0:
            # The same set object the top flow's steps add to as input turns sensitive.
            self._sensitive = ctx.sensitive
        await self.emit("flow.started", {"flow": name, "version": loaded.version, "depth": depth})
        node_id = flow.start
        while True:
            outcome = await self._step(loaded, node_id, ctx, depth)
            node = flow.nodes[node_id]
            if node.TERMINAL:
                if isinstance(node, ReturnNode):
                    await self.emit(
                        "flow.ended",
                        {"flow": name, "outcome": outcome, "node": node_id, "depth": depth},
                    )
                    return outcome, variables
                raise _Ended(outcome, self._last)
            following = node.route(outcome)
            await self._outcome(name, node_id, outcome, following)
            if following is None:
                await self._error(name, node_id, f"outcome {outcome!r} leads nowhere")
            node_id = following

    async def _step(self, loaded: LoadedFlow, node_id: str, ctx: Context, depth: int) -> str:
        """Run one node; return its outcome, taking failures to its `error` target."""
        flow = loaded.flow
        node = flow.nodes.get(node_id)
        if node is None:
            await self._error(flow.name, self._last, f"no node {node_id!r}")
        self._steps += 1
        if self._steps > self.max_steps:
            await self._error(flow.name, node_id, f"step limit of {self.max_steps} reached")
        self._last = node_id
        self._path.append(node_id if depth == 0 else f"{flow.name}/{node_id}")
        await self.emit("flow.node", {"flow": flow.name, "node": node_id, "type": node.type})
        ctx.node_id = node_id
        try:
            return await STEPS[type(node)](ctx, node)
        except (CallerGone, _Ended):
            raise
        except Exception as error:  # a failing node must not take the call down with it
            message = error_text(error)
            # A flow's own failure (FlowFailure) is told in the event log; anything else
            # is a fault worth its traceback.
            log.warning(
                "flow %s node %s failed: %s",
                flow.name,
                node_id,
                message,
                exc_info=None if isinstance(error, FlowFailure) else error,
            )
            if "error" not in node.targets():
                await self._error(flow.name, node_id, message)
            self._message = message
            return "error"

    async def _outcome(self, flow: str, node: str, outcome: str, following: str | None) -> None:
        data = {"flow": flow, "node": node, "outcome": outcome, "next": following}
        if self._message is not None:
            data["message"], self._message = self._message, None
        await self.emit("flow.outcome", data)

    async def _error(self, flow: str, node: str | None, message: str) -> NoReturn:
        await self.emit("flow.error", {"flow": flow, "node": node, "message": message})
        raise _Ended("error", node)
