"""Regression guard for the load benchmark's blind spot: under load every caller must
talk to the agent who answered for them, never be bridged after that agent hung up.

A short load step (bench/bench_sipp_load.py's harness, a Hotline of its own): callers at
8 calls a second for 5 s, 30 auto-answering agents who stay on the line 3 s. Each call is
judged by bench/call_evidence.py from the caller's SIPp, the agents' phones and
Asterisk's own bridges (AMI), and cross-checked with Hotline's event log. No timing
target is asserted here (those are the benchmark's): only that each caller was in a
bridge with their agent, from before that agent hung up, for at least a second of the
agent's three.

`run_guard(workdir, agent_talk=0)` is the deliberately broken variant (agents hang up
as they answer; SIPp alone counts every such call as a success): it must fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_sipp_load import HotlineStep, hotline_step
from bench.call_evidence import (
    AgentLeg,
    CallerSide,
    Conversation,
    judge,
)

pytestmark = pytest.mark.e2e

RATE = 8.0
SECONDS = 5.0
AGENTS = 30
AGENT_TALK = 3.0  # seconds on the line after answering
TALKED = 1.0  # the least time in conversation that counts as having talked


def run_guard(workdir: Path, agent_talk: float = AGENT_TALK) -> HotlineStep:
    """The load step, checked; AssertionError names the calls that were not ok."""
    result = hotline_step(
        workdir, RATE, SECONDS, AGENTS, agent_talk=agent_talk, talk=TALKED, progress=print
    )
    step = result.step
    bad = [v for v in step.verdicts if not v.ok]
    shown = "\n".join(f"  caller {v.number}: {v.reason} (agent {v.agent or '-'})" for v in bad[:10])
    assert not bad, (
        f"{len(bad)} of {step.calls} callers did not talk to their agent "
        f"{step.reasons()}:\n{shown}\n{result.log_tail}"
    )
    assert step.connected_late == 0, (
        f"{step.connected_late} callers' queue.connected is missing or after their agent "
        f"hung up (event log)"
    )
    return result


def test_under_load_every_caller_talks_to_the_agent_who_answered(tmp_path: Path) -> None:
    step = run_guard(tmp_path).step
    assert step.calls == RATE * SECONDS
    talked = sorted(v.talked or 0.0 for v in step.verdicts)
    print(
        f"\nload guard: {step.ok}/{step.calls} callers talked to their agent at {RATE:g} cps "
        f"(least {talked[0]:.2f} s, agents on the line {AGENT_TALK:g} s), machine CPU "
        f"{step.machine_busy:.0f} %, load {step.load:.1f}"
    )


# The judge itself, on made-up timelines: the rules can fail.


def _judge(conversations: list[Conversation], hung_up: float = 13.0) -> str:
    callers = {"71001": CallerSide("71001", invite=1.0, answered=1.1, key=3.0, bye=14.0)}
    legs = {"71001": [AgentLeg("71001", "3900", rung=3.2, answered=10.0, hung_up=hung_up)]}
    (verdict,) = judge(["71001"], callers, legs, conversations, talk=TALKED)
    return verdict.reason if not verdict.ok else "ok"


def test_the_judge_fails_a_caller_bridged_after_the_agent_hung_up() -> None:
    assert _judge([Conversation("71001", "3900", 10.05, 13.0)]) == "ok"
    assert _judge([Conversation("71001", "3900", 13.5, 15.0)]) == "bridged after the agent hung up"
    assert _judge([Conversation("71001", "3900", 12.9, 13.0)]).startswith("talked 0.10 s")
    assert _judge([]) == "never in a bridge with the agent who answered"
    assert _judge([Conversation("71001", "3999", 10.05, 13.0)]) == (
        "never in a bridge with the agent who answered"
    )
