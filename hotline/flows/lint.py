"""Check flows before they take calls: schema, graph, resources and semantics.

Every problem names file:line:column, a rule id and a severity. Names that live in the
config (queues, schedules, integrations, languages) come in through `Known`, so the
linter runs on a flow folder alone or against a full configuration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from hotline.catalogue import Catalogue
from hotline.chat_settings import ChatConfig
from hotline.file_types import AttachmentRefused, check_file, type_of
from hotline.flows import analysis as a
from hotline.flows import model as m
from hotline.flows.hours import Schedule
from hotline.flows.knowledge_lint import lint_knowledge
from hotline.flows.loader import FlowSet, LoadedFlow, gather_flows
from hotline.speech.grammar import DIGIT_WORDS, GrammarError, menu_grammar

Severity = Literal["error", "warning"]

#: rule id -> (severity, what it checks)
RULES: dict[str, tuple[Severity, str]] = {
    "schema": ("error", "the file is valid YAML and matches the flow schema"),
    "start-missing": ("error", "`start` names a node of the flow"),
    "target-missing": ("error", "every outcome leads to a node that exists"),
    "unreachable": ("warning", "every node can be reached from `start`"),
    "outcome-unhandled": ("error", "every outcome a node can produce has a target"),
    "no-end": ("error", "from every node some path reaches a hangup or return"),
    "unguarded-cycle": ("error", "loops wait for the caller or count their rounds"),
    "prompt-missing": ("error", "every prompt has a catalogue text in each language"),
    "language-unknown": ("error", "languages used are declared"),
    "dtmf-invalid": ("error", "menu keys and finish keys are 0-9, * and #"),
    "dtmf-prefix": ("error", "no menu key is the start of another"),
    "digits-range": ("error", "collect's min_digits is not above max_digits"),
    "timer": ("warning", "timeouts are in sensible ranges"),
    "variable-unassigned": ("error", "variables are set on every path before use"),
    "queue-unknown": ("error", "queues exist in the config"),
    "schedule-unknown": ("error", "schedules exist in the config"),
    "integration-unknown": ("error", "HTTP integrations exist in the config"),
    "subflow-unknown": ("error", "subflows name a loaded flow"),
    "subflow-recursion": ("error", "no flow calls itself through subflows (a → a, a → b → a)"),
    "voice-only": ("error", "flows that chats run have no voice-only steps (transfer)"),
    "speech-model-missing": ("error", "a node listens for speech only in languages with a model"),
    "speech-phrases": ("error", "spoken phrases name menu options, once each, in known words"),
    "text-only": ("error", "knowledge nodes (typed questions) are not in flows calls run"),
    "intents": ("error", "menu intents name menu options, once each, with words that count"),
    "file": (
        "error",
        "files flows send are in the files/ folder beside the flows, of a type and size "
        "the chat's attachment rules allow",
    ),
}


@dataclass(frozen=True, order=True)
class LintProblem:
    file: str
    line: int
    column: int
    rule: str
    severity: Severity
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}:{self.column}: {self.severity} [{self.rule}] {self.message}"
        )


@dataclass
class Known:
    """Names defined outside the flows; None means "not known here, do not check"."""

    queues: set[str] | None = None
    schedules: set[str] | None = None
    integrations: set[str] | None = None
    #: The hotline's languages, used for flows that do not declare their own.
    languages: list[str] | None = None
    #: Flows chats run (as text), with the subflows they call: no voice-only steps.
    chat_flows: set[str] | None = None
    #: Languages with a speech model configured (`speech.models`).
    speech_languages: set[str] | None = None
    #: Flows calls run (the numbers' flows), with their subflows: no text-only steps.
    voice_flows: set[str] | None = None
    #: The chat's attachment rules (`chat.max_attachment_bytes`, `attachment_types`)
    #: for the files flows send; None: the defaults.
    attachment_bytes: int | None = None
    attachment_types: list[str] | None = None


@dataclass
class _Report:
    loaded: LoadedFlow
    problems: list[LintProblem] = field(default_factory=list)

    def add(self, rule: str, message: str, *path: object, key: bool = False) -> None:
        line, column = self.loaded.where(*path, key=key)
        severity = RULES[rule][0]
        self.problems.append(
            LintProblem(str(self.loaded.path), line, column, rule, severity, message)
        )


def lint_paths(
    paths: Iterable[str | Path], *, catalogue: Catalogue | None = None, known: Known | None = None
) -> list[LintProblem]:
    """Lint flow files and folders; files that do not load give `schema` problems."""
    flowset, failures = gather_flows(paths)
    problems = [
        LintProblem(p.file, p.line, p.column, "schema", "error", _field(p.field, p.message))
        for p in failures
    ]
    return sorted(problems + lint_flowset(flowset, catalogue=catalogue, known=known))


def _field(name: str, message: str) -> str:
    return f"{name}: {message}" if name else message


def lint_flowset(
    flowset: FlowSet, *, catalogue: Catalogue | None = None, known: Known | None = None
) -> list[LintProblem]:
    """Lint loaded flows against each other, the catalogue and the known names."""
    known = known or Known()
    subflow_returns = {f.name: a.returns(f.flow) for f in flowset}
    problems: list[LintProblem] = []
    chat_reach = _chat_reach(flowset, known.chat_flows)
    voice_reach = _chat_reach(flowset, known.voice_flows)
    for loaded in flowset:
        report = _Report(loaded)
        _graph(report, subflow_returns)
        _resources(report, flowset, catalogue, known)
        _recursion(report, flowset)
        _keys_and_timers(report)
        _variables(report, subflow_returns)
        _speech(report, known)
        _files(report, known)
        if loaded.name in chat_reach:
            _text_only(report)
        languages = loaded.flow.languages or known.languages
        if languages is None and catalogue is not None:
            languages = catalogue.languages
        lint_knowledge(
            report.add, loaded.flow, catalogue, languages, voice=loaded.name in voice_reach
        )
        problems.extend(report.problems)
    return sorted(problems)


def _chat_reach(flowset: FlowSet, roots: set[str] | None) -> set[str]:
    """The chat flows and every flow they call as a subflow."""
    seen: set[str] = set()
    todo = [name for name in roots or () if name in flowset]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in flowset[name].flow.nodes.values():
            if isinstance(node, m.SubflowNode) and node.flow in flowset:
                todo.append(node.flow)
    return seen


@dataclass(frozen=True)
class _Call:
    """A subflow node: which flow it is in, where, and which flow it calls."""

    caller: LoadedFlow
    node_id: str
    callee: str

    def __str__(self) -> str:
        line, _ = self.caller.where("nodes", self.node_id, "flow")
        return f"{self.caller.name} ({self.caller.path}:{line} node {self.node_id!r})"


def _calls(loaded: LoadedFlow, flowset: FlowSet) -> list[_Call]:
    """The subflow nodes of a flow that call a loaded flow, in file order."""
    return [
        _Call(loaded, node_id, node.flow)
        for node_id, node in loaded.flow.nodes.items()
        if isinstance(node, m.SubflowNode) and node.flow in flowset
    ]


def _shortest_recursion(loaded: LoadedFlow, flowset: FlowSet) -> list[_Call] | None:
    """The shortest chain of subflow calls that leads from a flow back into itself."""
    reached: set[str] = set()
    frontier = [[call] for call in _calls(loaded, flowset)]
    while frontier:
        following = []
        for path in frontier:
            callee = path[-1].callee
            if callee == loaded.name:
                return path
            if callee in reached:
                continue
            reached.add(callee)
            following += [[*path, call] for call in _calls(flowset[callee], flowset)]
        frontier = following
    return None


def _recursion(report: _Report, flowset: FlowSet) -> None:
    """The interpreter stops subflows nested deeper than MAX_DEPTH: a flow that can call
    itself fails there at run time, or runs on with no end in sight."""
    path = _shortest_recursion(report.loaded, flowset)
    if path is None:
        return
    chain = " → ".join([*(str(call) for call in path), report.loaded.name])
    report.add(
        "subflow-recursion",
        f"flow {report.loaded.name!r} can call itself through subflows: {chain}",
        "nodes",
        path[0].node_id,
        "flow",
    )


def _text_only(report: _Report) -> None:
    """A chat has no phone line to transfer: `transfer` has no text form."""
    for node_id, node in report.loaded.flow.nodes.items():
        if isinstance(node, m.TransferNode):
            report.add(
                "voice-only",
                f"node {node_id!r}: a transfer cannot run in a chat; this flow runs as text "
                "(chat.flow) — hand the chat to a queue instead",
                "nodes",
                node_id,
                "type",
            )


def has_errors(problems: Sequence[LintProblem]) -> bool:
    return any(p.severity == "error" for p in problems)


def format_human(problems: Sequence[LintProblem]) -> str:
    errors = sum(p.severity == "error" for p in problems)
    lines = [str(p) for p in problems]
    lines.append(f"{errors} error(s), {len(problems) - errors} warning(s)")
    return "\n".join(lines)


def format_json(problems: Sequence[LintProblem]) -> str:
    return json.dumps([asdict(p) for p in problems], indent=2, ensure_ascii=False)


def _graph(report: _Report, subflow_returns: dict[str, set[str]]) -> None:
    flow = report.loaded.flow
    if flow.start not in flow.nodes:
        report.add("start-missing", f"start node {flow.start!r} is not in nodes", "start")
    for node_id, node in flow.nodes.items():
        for outcome, target in node.targets().items():
            if target not in flow.nodes:
                report.add(
                    "target-missing",
                    f"{outcome!r} of {node_id!r} leads to {target!r}, which is not a node",
                    "nodes",
                    node_id,
                    *_outcome_path(node, outcome),
                )
        for outcome in a.outcomes(node, subflow_returns):
            if node.route(outcome) is None:
                report.add(
                    "outcome-unhandled",
                    f"{node.type} node {node_id!r} can end {outcome!r} but has no target for it",
                    "nodes",
                    node_id,
                    "on" if hasattr(node, "on") else "type",
                )
    graph = a.successors(flow)
    live = a.reachable(graph, flow.start)
    for node_id in flow.nodes:
        if node_id not in live and flow.start in flow.nodes:
            report.add(
                "unreachable",
                f"node {node_id!r} cannot be reached from start",
                "nodes",
                node_id,
                key=True,
            )
    # A node with a missing target is reported as that; do not also call it endless.
    broken = {n for n, node in flow.nodes.items() if set(node.targets().values()) - set(flow.nodes)}
    ending = a.can_end(flow, graph, broken)
    for node_id in sorted(live - ending, key=list(flow.nodes).index):
        report.add(
            "no-end",
            f"no path from {node_id!r} reaches a hangup or return",
            "nodes",
            node_id,
            key=True,
        )
    live_graph = {n: graph[n] & live for n in live}
    for component in a.cycles(live_graph):
        if any(flow.nodes[n].INPUT for n in component) or a.counters(flow, component):
            continue
        members = sorted(component, key=list(flow.nodes).index)
        report.add(
            "unguarded-cycle",
            f"nodes {', '.join(members)} loop without waiting for the caller or counting rounds"
            " (add a menu/collect, or a set `n: n + 1` and a switch on n)",
            "nodes",
            members[0],
            key=True,
        )


def _outcome_path(node: m.Node, outcome: str) -> tuple[str, ...]:
    if isinstance(node, m.MenuNode) and outcome in node.options:
        return ("options", outcome)
    if isinstance(node, m.SwitchNode) and outcome in node.cases:
        return ("cases", outcome)
    if outcome == "next":
        return ("target",) if isinstance(node, m.GotoNode) else ("next",)
    if outcome == "default" and isinstance(node, m.SwitchNode):
        return ("default",)
    return ("on", outcome)


def _resources(
    report: _Report, flowset: FlowSet, catalogue: Catalogue | None, known: Known
) -> None:
    flow = report.loaded.flow
    declared = flow.languages or known.languages or (catalogue.languages if catalogue else None)
    if flow.languages:
        for index, lang in enumerate(flow.languages):
            outside = known.languages or (catalogue.languages if catalogue else None)
            if outside is not None and lang not in outside:
                report.add(
                    "language-unknown",
                    f"language {lang!r} is not offered by the hotline",
                    "languages",
                    index,
                )
    for node_id, node in flow.nodes.items():
        at = ("nodes", node_id)
        for path, prompt in a.prompts(node):
            if prompt.language and declared and prompt.language not in declared:
                report.add(
                    "language-unknown",
                    f"prompt language {prompt.language!r} is not declared",
                    *at,
                    *path,
                )
            if catalogue is None or prompt.key is None:
                continue
            if prompt.key not in catalogue:
                report.add(
                    "prompt-missing", f"prompt {prompt.key!r} is not in the catalogue", *at, *path
                )
                continue
            langs = [prompt.language] if prompt.language else declared or []
            lacking = [lang for lang in langs if catalogue.text(prompt.key, lang) is None]
            if lacking:
                message = f"prompt {prompt.key!r} has no {'/'.join(lacking)} text in the catalogue"
                report.add("prompt-missing", message, *at, *path)
        if (
            isinstance(node, m.SetLanguageNode)
            and "{{" not in node.language
            and declared
            and node.language not in declared
        ):
            report.add(
                "language-unknown",
                f"language {node.language!r} is not declared",
                *at,
                "language",
            )
        if (
            isinstance(node, m.QueueNode | m.QueueStatusNode | m.CallbackNode)
            and known.queues is not None
            and node.queue not in known.queues
        ):
            report.add(
                "queue-unknown", f"no queue named {node.queue!r} in the config", *at, "queue"
            )
        if (
            isinstance(node, m.HoursNode)
            and not isinstance(node.schedule, Schedule)
            and known.schedules is not None
            and node.schedule not in known.schedules
        ):
            report.add(
                "schedule-unknown",
                f"no schedule named {node.schedule!r} in the config",
                *at,
                "schedule",
            )
        if (
            isinstance(node, m.HttpNode)
            and node.integration
            and known.integrations is not None
            and node.integration not in known.integrations
        ):
            report.add(
                "integration-unknown",
                f"no integration named {node.integration!r} in the config",
                *at,
                "integration",
            )
        if isinstance(node, m.SubflowNode) and node.flow not in flowset:
            report.add("subflow-unknown", f"no flow named {node.flow!r}", *at, "flow")


def _files(report: _Report, known: Known) -> None:
    """Every `file:` prompt's file: inside files/, there, and within the chat's rules."""
    defaults = ChatConfig()
    limit = known.attachment_bytes or defaults.max_attachment_bytes
    types = known.attachment_types or defaults.attachment_types
    root = (report.loaded.path.parent / m.FILES_DIR).resolve()
    for node_id, node in report.loaded.flow.nodes.items():
        for path, prompt in a.prompts(node):
            if prompt.file is None:
                continue
            at = ("nodes", node_id, *path, "file")
            problem = _file_problem(root, prompt.file, limit, types)
            if problem:
                report.add("file", f"file {prompt.file!r}: {problem}", *at)


def _file_problem(root: Path, name: str, limit: int, types: list[str]) -> str | None:
    where = f"{m.FILES_DIR}/{name}"
    found = (root / name).resolve()
    if root not in found.parents:
        return f"not inside {m.FILES_DIR}/ beside the flows (a link out of it is not sent)"
    if not found.is_file():
        return f"no such file: {where} beside the flows"
    size = found.stat().st_size
    if size > limit:
        return f"{size} bytes, over chat.max_attachment_bytes ({limit})"
    try:
        body = found.read_bytes()
        check_file(body, type_of(name), limit, types)
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    except AttachmentRefused as error:
        rule = " (chat.attachment_types)" if error.code == "type_not_allowed" else ""
        return f"{error}{rule}"
    return None


_DTMF = re.compile(r"^[0-9*#]+$")


def _keys_and_timers(report: _Report) -> None:
    for node_id, node in report.loaded.flow.nodes.items():
        at = ("nodes", node_id)
        if isinstance(node, m.MenuNode):
            for key in node.options:
                if not _DTMF.match(key):
                    report.add(
                        "dtmf-invalid",
                        f"menu key {key!r} is not made of 0-9, * and #",
                        *at,
                        "options",
                        key,
                        key=True,
                    )
                for other in node.options:
                    if other != key and other.startswith(key):
                        report.add(
                            "dtmf-prefix",
                            f"key {key!r} is the start of {other!r}: pressing {key!r} chooses"
                            f" it at once, so {other!r} can never be chosen",
                            *at,
                            "options",
                            other,
                            key=True,
                        )
        if isinstance(node, m.CollectNode):
            if node.finish_key is not None and not re.fullmatch(r"[0-9*#]", node.finish_key):
                report.add(
                    "dtmf-invalid",
                    f"finish key {node.finish_key!r} must be one of 0-9, * or #",
                    *at,
                    "finish_key",
                )
            if node.min_digits > node.max_digits:
                report.add(
                    "digits-range",
                    f"min_digits {node.min_digits} is above max_digits {node.max_digits}",
                    *at,
                    "min_digits",
                )
        if (
            isinstance(node, m.MenuNode | m.CollectNode | m.SurveyNode)
            and not 2 <= node.timeout <= 30
        ):
            report.add(
                "timer",
                f"timeout {node.timeout:g} s: callers need 2 to 30 s to answer",
                *at,
                "timeout",
            )
        if isinstance(node, m.MenuNode | m.CollectNode) and not 1 <= node.inter_digit_timeout <= 10:
            report.add(
                "timer",
                f"inter_digit_timeout {node.inter_digit_timeout:g} s is outside 1 to 10 s",
                *at,
                "inter_digit_timeout",
            )
        if isinstance(node, m.RecordNode) and node.silence_seconds >= node.max_seconds:
            report.add("timer", "silence_seconds is not below max_seconds", *at, "silence_seconds")
        if isinstance(node, m.TransferNode) and not 5 <= node.timeout <= 120:
            report.add(
                "timer",
                f"transfer timeout {node.timeout:g} s is outside 5 to 120 s",
                *at,
                "timeout",
            )


def _variables(report: _Report, subflow_returns: dict[str, set[str]]) -> None:
    flow = report.loaded.flow
    assigned = a.assigned_before(flow, a.edges(flow, subflow_returns))
    for node_id, node in flow.nodes.items():
        if node_id not in assigned:
            continue  # unreachable: reported already
        for path, used in a.uses(node):
            for name in sorted(used - assigned[node_id]):
                report.add(
                    "variable-unassigned",
                    f"{name!r} may not be set when {node_id!r} runs (declare it under"
                    " `variables:` or set it on every path here)",
                    "nodes",
                    node_id,
                    *path,
                )


def _speech(report: _Report, known: Known) -> None:
    for node_id, node in report.loaded.flow.nodes.items():
        if not isinstance(node, m.MenuNode | m.CollectNode) or node.speech is None:
            continue
        at = ("nodes", node_id, "speech")
        for language in node.speech.offered():
            if known.speech_languages is not None and language not in known.speech_languages:
                have = ", ".join(sorted(known.speech_languages)) or "none"
                report.add(
                    "speech-model-missing",
                    f"{node.type} node {node_id!r} listens for speech in {language!r}, which"
                    f" has no model in speech.models (models: {have})",
                    *at,
                )
        if isinstance(node, m.CollectNode):
            for index, language in enumerate(node.speech.languages if node.speech else ()):
                if language not in DIGIT_WORDS:
                    report.add(
                        "speech-phrases",
                        f"digits cannot be said in {language!r} (digit words are known for"
                        f" {', '.join(sorted(DIGIT_WORDS))})",
                        *at,
                        "languages",
                        index,
                    )
            continue
        menu = node.speech
        for key in menu.phrases:
            if key not in node.options:
                report.add(
                    "speech-phrases",
                    f"phrases for {key!r}, which is not an option of {node_id!r}",
                    *at,
                    "phrases",
                    key,
                    key=True,
                )
        for language in menu.offered():
            try:
                menu_grammar(menu.phrases, language)
            except GrammarError as error:
                report.add("speech-phrases", f"{language}: {error}", *at, "phrases")
