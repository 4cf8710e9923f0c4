"""Flow diagrams: Graphviz DOT text, and SVG by running `dot`."""

from __future__ import annotations

import json
import subprocess

from hotline.flows import model as m

#: Node shape and fill per node type.
STYLE: dict[str, tuple[str, str]] = {
    "play": ("box", "#e8f1fb"),
    "menu": ("diamond", "#fff4d6"),
    "collect": ("parallelogram", "#fff4d6"),
    "survey": ("parallelogram", "#fff4d6"),
    "set_language": ("note", "#f0f0f0"),
    "set": ("note", "#f0f0f0"),
    "switch": ("diamond", "#f0f0f0"),
    "hours": ("hexagon", "#e9f7ea"),
    "http": ("cds", "#f3e8fb"),
    "subflow": ("box3d", "#e8f1fb"),
    "goto": ("circle", "#ffffff"),
    "record": ("tab", "#fbe8e8"),
    "transfer": ("house", "#e9f7ea"),
    "queue": ("cylinder", "#e9f7ea"),
    "knowledge": ("folder", "#fff4d6"),
    "hangup": ("doublecircle", "#fbe8e8"),
    "return": ("doubleoctagon", "#fbe8e8"),
}


def _quote(text: str) -> str:
    # JSON string escaping is valid DOT string escaping for what we emit.
    return json.dumps(text, ensure_ascii=False)


def to_dot(flow: m.Flow) -> str:
    """The flow as a DOT digraph: one shape per node type, outcomes as edge labels."""
    lines = [
        f"digraph {_quote(flow.name)} {{",
        "  rankdir=TB;",
        '  node [fontname="Helvetica", fontsize=11, style=filled];',
        '  edge [fontname="Helvetica", fontsize=9];',
        '  "__start" [shape=point, width=0.15, label=""];',
        f'  "__start" -> {_quote(flow.start)};',
    ]
    for node_id, node in flow.nodes.items():
        shape, fill = STYLE.get(node.type, ("box", "#ffffff"))
        label = f"{node_id}\n({node.type}{_detail(node)})"
        lines.append(
            f"  {_quote(node_id)} [shape={shape}, fillcolor={_quote(fill)}, label={_quote(label)}];"
        )
    for node_id, node in flow.nodes.items():
        by_target: dict[str, list[str]] = {}
        # Catch-alls last, so labels lead with the outcomes the node names.
        targets = sorted(node.targets().items(), key=lambda item: item[0] in ("other", "error"))
        for outcome, target in targets:
            by_target.setdefault(target, []).append(outcome)
        for target, outcomes in by_target.items():
            style = ', style=dashed, color="#b03030"' if outcomes == ["error"] else ""
            if target not in flow.nodes:
                lines.append(f"  {_quote(target)} [shape=box, color=red, fontcolor=red];")
            label = _quote(", ".join(o for o in outcomes if o != "next"))
            lines.append(f"  {_quote(node_id)} -> {_quote(target)} [label={label}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _detail(node: m.Node) -> str:
    if isinstance(node, m.QueueNode):
        return f": {node.queue}"
    if isinstance(node, m.SubflowNode):
        return f": {node.flow}"
    if isinstance(node, m.SetLanguageNode):
        return f": {node.language}"
    if isinstance(node, m.KnowledgeNode):
        return f": >= {node.threshold:g}" + (f" [{', '.join(node.tags)}]" if node.tags else "")
    if isinstance(node, m.PlayNode) and node.prompts[0].key:
        return f": {node.prompts[0].key}"
    return ""


def to_svg(flow: m.Flow, dot: str = "dot", timeout: float = 30.0) -> bytes:
    """Render with Graphviz; raise RuntimeError if `dot` is missing or fails."""
    try:
        done = subprocess.run(
            [dot, "-Tsvg"], input=to_dot(flow).encode(), capture_output=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"cannot run Graphviz {dot!r}: {error}") from None
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout
