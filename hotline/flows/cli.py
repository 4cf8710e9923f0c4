"""`hotline flows …`: lint, simulate, graph, schema and coverage from the command line.

`add_flow_commands(subparsers)` registers the `flows` command on an argparse
sub-parser set; each sub-command stores its handler as `args.func(args) -> exit code`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from hotline.catalogue import Catalogue
from hotline.flows.graph import to_dot, to_svg
from hotline.flows.lint import (
    Known,
    LintProblem,
    format_human,
    format_json,
    has_errors,
    lint_paths,
)
from hotline.flows.loader import FlowSet, load_flows
from hotline.flows.scenarios import Outcome, coverage, load_cases, run_case
from hotline.flows.schema import SCHEMA_FILE, schema_text, write_schema
from hotline.flows.simulator import Overrides, Transcript, load_http_fixtures, simulate
from hotline.knowledge.base import KnowledgeBase
from hotline.knowledge.loader import lint_directory
from hotline.knowledge.scratch import scratch_knowledge
from hotline.yamlsource import SourceError, SourceProblem

OK, FAILED, USAGE = 0, 1, 2


def add_flow_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add `flows` with its sub-commands; returns the `flows` parser."""
    flows = subparsers.add_parser("flows", help="check, simulate and draw IVR flows")
    flows.add_argument("--flows-dir", type=Path, default=Path("ivr_flows"))
    flows.add_argument("--catalogue", type=Path, default=Path("sounds/catalogue.yaml"))
    flows.add_argument(
        "--knowledge-dir", type=Path, default=Path("knowledge"), help="the articles' folder"
    )
    commands = flows.add_subparsers(dest="flows_command", required=True)

    lint = commands.add_parser("lint", help="check flow files")
    lint.add_argument("files", nargs="*", type=Path, help="flow files (default: the flows folder)")
    lint.add_argument("--json", action="store_true", help="print problems as JSON")
    lint.add_argument("--queue", action="append", help="a known queue name (repeatable)")
    lint.add_argument("--schedule", action="append", help="a known schedule name")
    lint.add_argument("--integration", action="append", help="a known integration name")
    lint.set_defaults(func=lint_command)

    sim = commands.add_parser("simulate", help="run a flow with scripted caller input")
    sim.add_argument("flow")
    sim.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        help='keys, "say:words[@confidence]", "timeout" or "hangup"',
    )
    sim.add_argument("--hours", choices=["open", "closed"])
    sim.add_argument("--http", type=Path, help="JSON file: integration -> response or 'timeout'")
    sim.add_argument(
        "--queue-outcome",
        default="answered",
        choices=["answered", "timeout", "full", "closed", "left"],
    )
    sim.add_argument("--language", default="en")
    sim.add_argument("--var", action="append", default=[], help="name=value input variable")
    sim.set_defaults(func=simulate_command)

    graph = commands.add_parser("graph", help="draw a flow (SVG, or DOT with .dot)")
    graph.add_argument("flow")
    graph.add_argument("-o", "--output", type=Path, required=True)
    graph.set_defaults(func=graph_command)

    schema = commands.add_parser("schema", help="write the flow JSON Schema")
    schema.add_argument("-o", "--output", type=Path, help=f"default: <flows-dir>/{SCHEMA_FILE}")
    schema.add_argument("--check", action="store_true", help="fail if the file is out of date")
    schema.set_defaults(func=schema_command)

    cover = commands.add_parser("coverage", help="run scenario tests and report coverage")
    cover.set_defaults(func=coverage_command)
    return flows


def run(argv: list[str], out: TextIO | None = None) -> int:
    """Parse `flows …` arguments and run the command (for tests and scripts)."""
    parser = argparse.ArgumentParser(prog="hotline")
    add_flow_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.out = out or sys.stdout
    status: int = args.func(args)
    return status


def _out(args: argparse.Namespace) -> TextIO:
    return getattr(args, "out", None) or sys.stdout


def _catalogue(args: argparse.Namespace) -> Catalogue | None:
    return Catalogue.load(args.catalogue) if args.catalogue.is_file() else None


def _flowset(args: argparse.Namespace) -> FlowSet:
    return load_flows(args.flows_dir)


def lint_command(args: argparse.Namespace) -> int:
    out = _out(args)
    try:
        catalogue = _catalogue(args)
    except SourceError as error:
        print(error, file=out)
        return FAILED
    known = Known(
        queues=set(args.queue) if args.queue else None,
        schedules=set(args.schedule) if args.schedule else None,
        integrations=set(args.integration) if args.integration else None,
    )
    problems = lint_paths(args.files or [args.flows_dir], catalogue=catalogue, known=known)
    if not args.files and args.knowledge_dir.is_dir():
        # The knowledge base is linted with the flows that answer from it.
        languages = catalogue.languages if catalogue else ["en"]
        problems = sorted(
            problems
            + [
                LintProblem(p.file, p.line, p.column, "knowledge", "error", _field(p))
                for p in lint_directory(args.knowledge_dir, languages)
            ]
        )
    print(format_json(problems) if args.json else format_human(problems), file=out)
    return FAILED if has_errors(problems) else OK


def _field(problem: SourceProblem) -> str:
    return f"{problem.field}: {problem.message}" if problem.field else problem.message


def simulate_command(args: argparse.Namespace) -> int:
    out = _out(args)
    try:
        flowset, catalogue = _flowset(args), _catalogue(args)
        http = load_http_fixtures(args.http) if args.http else {}
    except (SourceError, OSError, ValueError) as error:
        print(error, file=out)
        return FAILED
    if args.flow not in flowset:
        print(f"no flow named {args.flow!r}; flows: {', '.join(flowset.names())}", file=out)
        return USAGE
    overrides = Overrides(
        hours=None if args.hours is None else args.hours == "open",
        http=http,
        queue=args.queue_outcome,
    )
    variables = dict(v.split("=", 1) for v in args.var if "=" in v)

    async def run() -> Transcript:
        async def simulated(knowledge: KnowledgeBase | None = None) -> Transcript:
            return await simulate(
                flowset,
                args.flow,
                args.input,
                overrides,
                catalogue=catalogue,
                language=args.language,
                variables=variables,
                knowledge=knowledge,
            )

        if not args.knowledge_dir.is_dir():  # knowledge nodes fail, as with no articles
            return await simulated()
        languages = catalogue.languages if catalogue else [args.language]
        async with scratch_knowledge(args.knowledge_dir, languages) as (kb, refused):
            for problem in refused:  # the others are searched, as at the hotline's start
                print(f"knowledge: refused {problem}", file=out)
            return await simulated(knowledge=kb)

    try:
        transcript = asyncio.run(run())
    except ValueError as error:
        print(error, file=out)
        return USAGE
    print(transcript, file=out)
    return FAILED if transcript.outcome == "error" else OK


def graph_command(args: argparse.Namespace) -> int:
    out = _out(args)
    try:
        flowset = _flowset(args)
    except SourceError as error:
        print(error, file=out)
        return FAILED
    if args.flow not in flowset:
        print(f"no flow named {args.flow!r}", file=out)
        return USAGE
    flow = flowset[args.flow].flow
    try:
        if args.output.suffix == ".dot":
            args.output.write_text(to_dot(flow), encoding="utf-8")
        else:
            args.output.write_bytes(to_svg(flow))
    except (OSError, RuntimeError) as error:
        print(error, file=out)
        return FAILED
    print(f"wrote {args.output}", file=out)
    return OK


def schema_command(args: argparse.Namespace) -> int:
    out = _out(args)
    path = args.output or args.flows_dir / SCHEMA_FILE
    if args.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != schema_text():
            print(f"{path} is out of date: run `hotline flows schema`", file=out)
            return FAILED
        return OK
    print(f"{'wrote' if write_schema(path) else 'unchanged'} {path}", file=out)
    return OK


def coverage_command(args: argparse.Namespace) -> int:
    out = _out(args)
    try:
        flowset, catalogue = _flowset(args), _catalogue(args)
        cases = load_cases(args.flows_dir / "tests")
    except SourceError as error:
        print(error, file=out)
        return FAILED

    async def run_all() -> list[Outcome]:
        return [await run_case(flowset, case, catalogue) for case in cases]

    outcomes = asyncio.run(run_all())
    for outcome in outcomes:
        mark = "ok  " if outcome.passed else "FAIL"
        print(
            f"{mark} {outcome.case.file}:{outcome.case.line}: {outcome.case.scenario.name}",
            file=out,
        )
        for failure in outcome.failures:
            print(f"       {failure}", file=out)
    for entry in coverage(flowset, [o.transcript for o in outcomes]).values():
        print(entry.summary(), file=out)
    return OK if all(o.passed for o in outcomes) else FAILED
