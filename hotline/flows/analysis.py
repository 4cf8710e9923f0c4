"""Static facts about a flow's graph: edges, reachability, cycles, variable use.

Shared by the linter, diagrams and scenario coverage.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from hotline.flows import model as m
from hotline.flows.expressions import names, template_names

#: Variables every flow can read without assigning them.
BUILTINS = frozenset({"language", "channel"})

FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class Edge:
    source: str
    outcome: str
    target: str


def edges(flow: m.Flow, subflows: dict[str, set[str]] | None = None) -> list[Edge]:
    """Every (node, outcome, target) the flow can take, after fallbacks and `other`.

    `subflows` maps a flow name to the outcomes its `return` nodes give, so a subflow
    node's edges follow what the called flow can really return.
    """
    found = []
    for node_id, node in flow.nodes.items():
        for outcome in outcomes(node, subflows):
            target = node.route(outcome)
            if target is not None:
                found.append(Edge(node_id, outcome, target))
    return found


def outcomes(node: m.Node, subflows: dict[str, set[str]] | None = None) -> list[str]:
    """Outcomes a node can produce, `error` included when it has a target for it."""
    produced = list(node.outcomes())
    if isinstance(node, m.SubflowNode) and subflows and node.flow in subflows:
        produced = sorted(subflows[node.flow])
    if "error" in node.targets() and "error" not in produced:
        produced.append("error")
    return produced


def returns(flow: m.Flow) -> set[str]:
    """The outcomes a flow's `return` nodes give its caller."""
    return {n.outcome for n in flow.nodes.values() if isinstance(n, m.ReturnNode)}


def successors(flow: m.Flow) -> dict[str, set[str]]:
    """Node -> nodes it can go to (any written target that exists)."""
    graph: dict[str, set[str]] = {node_id: set() for node_id in flow.nodes}
    for node_id, node in flow.nodes.items():
        graph[node_id] = {t for t in node.targets().values() if t in flow.nodes}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start] if start in graph else []
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node] - seen)
    return seen


def can_end(flow: m.Flow, graph: dict[str, set[str]], also: Iterable[str] = ()) -> set[str]:
    """Nodes from which some path reaches a hangup or return (or a node in `also`)."""
    done = {node_id for node_id, node in flow.nodes.items() if node.TERMINAL} | set(also)
    changed = True
    while changed:
        changed = False
        for node_id, nexts in graph.items():
            if node_id not in done and nexts & done:
                done.add(node_id)
                changed = True
    return done


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components that loop (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.append(component)
    return found


def counters(flow: m.Flow, component: set[str]) -> set[str]:
    """Variables a cycle both counts (`n: n + 1` in a set node) and tests (in a switch)."""
    counted = {
        name
        for node_id in component
        if isinstance(node := flow.nodes[node_id], m.SetNode)
        for name, expr in node.values.items()
        if isinstance(expr, str) and name in names(expr)
    }
    tested = {
        name
        for node_id in component
        if isinstance(node := flow.nodes[node_id], m.SwitchNode)
        for case in node.cases
        for name in names(case)
    }
    return counted & tested


def uses(node: m.Node) -> list[tuple[FieldPath, set[str]]]:
    """The variables a node reads, with the field (as written in YAML) reading them."""
    found: list[tuple[FieldPath, set[str]]] = []
    if isinstance(node, m.SetNode):
        for name, expr in node.values.items():
            if isinstance(expr, str):
                found.append((("values", name), names(expr)))
    elif isinstance(node, m.SwitchNode):
        for case in node.cases:
            found.append((("cases", case), names(case)))
    else:
        for path, text in _templates(node, ()):
            found.append((path, template_names(text)))
    return [(path, used - BUILTINS) for path, used in found if used - BUILTINS]


_TEMPLATE_FIELDS = {
    m.SetLanguageNode: ("language",),
    m.HttpNode: ("url", "path", "params"),
    m.SubflowNode: ("inputs",),
    m.TransferNode: ("target",),
}


def _templates(value: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    """Template strings in a node: prompt values and the fields listed above."""
    if isinstance(value, m.PromptSpec):
        if value.value is not None:
            yield (*path, "value"), value.value
        return
    if isinstance(value, BaseModel):
        wanted = _TEMPLATE_FIELDS.get(type(value), ())
        for name, info in type(value).model_fields.items():
            key = info.alias or name
            item = getattr(value, name)
            if name in wanted:
                yield from _strings(item, (*path, key))
            else:
                yield from _templates(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _templates(item, (*path, str(index)))


def _strings(value: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, str(key)))


def prompts(value: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, m.PromptSpec]]:
    """Every prompt in a node, with its field path."""
    if isinstance(value, m.PromptSpec):
        yield path, value
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from prompts(getattr(value, name), (*path, info.alias or name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from prompts(item, (*path, str(index)))


def assigns(node: m.Node, outcome: str) -> set[str]:
    """Variables a node has set when it leaves through `outcome`."""
    if isinstance(node, m.CollectNode) and outcome == "ok":
        return {node.into}
    if isinstance(node, m.SetNode) and outcome == "next":
        return set(node.values)
    if isinstance(node, m.HttpNode) and outcome == "ok":
        return set(node.response)
    if isinstance(node, m.SubflowNode) and outcome != "error":
        return set(node.outputs)
    if isinstance(node, m.RecordNode) and outcome == "recorded" and node.into:
        return {node.into}
    if isinstance(node, m.QueueStatusNode) and outcome == "next":
        return set(node.VARIABLES)
    if isinstance(node, m.KnowledgeNode) and outcome != "error":
        return set(node.VARIABLES)
    if isinstance(node, m.CallbackNode) and outcome != "error":
        return {"callback_number", "callback_id"} if outcome == "booked" else {"callback_reason"}
    return set()


def assigned_before(flow: m.Flow, flow_edges: list[Edge]) -> dict[str, set[str]]:
    """For each reachable node, the variables set on every path that reaches it."""
    start = set(flow.declared())
    everything = start | {
        name
        for node in flow.nodes.values()
        for outcome in outcomes(node)
        for name in assigns(node, outcome)
    }
    live = reachable(successors(flow), flow.start)
    state = {node_id: set(everything) for node_id in live}
    if flow.start in state:
        state[flow.start] = start  # coming back adds nothing the first arrival lacked
    changed = True
    while changed:
        changed = False
        for edge in flow_edges:
            if edge.source not in live or edge.target not in state or edge.target == flow.start:
                continue
            carried = state[edge.source] | assigns(flow.nodes[edge.source], edge.outcome)
            narrowed = state[edge.target] & carried
            if narrowed != state[edge.target]:
                state[edge.target] = narrowed
                changed = True
    return state
