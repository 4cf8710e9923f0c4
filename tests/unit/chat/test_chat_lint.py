"""Flows that chats run may not use voice-only steps (lint rule voice-only)."""

from __future__ import annotations

from pathlib import Path

from hotline.catalogue import Catalogue
from hotline.flows.lint import Known, lint_flowset, lint_paths
from hotline.flows.loader import FlowSet, parse_flow

ROOT = Path(__file__).resolve().parents[3]

HELPER = """
name: helper
start: to_desk
nodes:
  to_desk: {type: transfer, target: "1001", on: {other: done}}
  done: {type: return, outcome: done}
"""
ENTRY = """
name: entry
start: call_helper
nodes:
  call_helper: {type: subflow, flow: helper, on: {done: end}}
  end: {type: hangup}
"""


def test_transfer_reached_from_a_chat_flow_is_an_error() -> None:
    flows = FlowSet.of(parse_flow(HELPER, "helper.yaml"), parse_flow(ENTRY, "entry.yaml"))
    problems = [
        p for p in lint_flowset(flows, known=Known(chat_flows={"entry"})) if p.rule == "voice-only"
    ]
    assert len(problems) == 1
    (problem,) = problems
    assert problem.file == "helper.yaml" and problem.line == 5 and problem.severity == "error"
    assert "'to_desk'" in problem.message and "runs as text" in problem.message
    # The same flows for calls only: fine.
    assert not [p for p in lint_flowset(flows, known=Known()) if p.rule == "voice-only"]


def test_the_demo_chat_flow_is_clean() -> None:
    catalogue = Catalogue.load(ROOT / "sounds" / "catalogue.yaml")
    problems = lint_paths(
        [ROOT / "ivr_flows"],
        catalogue=catalogue,
        known=Known(queues={"support"}, schedules={"chat", "office"}, integrations={"crm"},
                    chat_flows={"chat"}),
    )  # fmt: skip
    assert [p for p in problems if p.severity == "error"] == []
