import json
from pathlib import Path

import pytest

from hotline.catalogue import Catalogue
from hotline.flows.lint import RULES, Known, format_human, format_json, has_errors, lint_paths

HERE = Path(__file__).parent
LINT = HERE / "fixtures" / "lint"
ROOT = HERE.parents[2]
KNOWN = Known(
    queues={"support"},
    schedules={"office"},
    integrations={"crm"},
    speech_languages={"en"},
    chat_flows={"voice_only"},  # runs as text: fixtures/lint/voice-only.yaml
    voice_flows={"text_only"},  # takes calls: fixtures/lint/text-only.yaml
)


def expected_line(path: Path, rule: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.rstrip().endswith(f"# expect: {rule}"):
            return number
    raise AssertionError(f"{path} has no '# expect: {rule}' line")


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_has_a_failing_fixture(rule: str):
    path = LINT / f"{rule}.yaml"
    catalogue = Catalogue.load(HERE / "fixtures" / "catalogue.yaml")
    problems = lint_paths([path], catalogue=catalogue, known=KNOWN)
    assert [p.rule for p in problems] and {p.rule for p in problems} == {rule}, format_human(
        problems
    )
    assert problems[0].line == expected_line(path, rule)
    assert problems[0].severity == RULES[rule][0]
    assert problems[0].file == str(path)


def test_shipped_flows_are_clean():
    catalogue = Catalogue.load(ROOT / "sounds" / "catalogue.yaml")
    problems = lint_paths(
        [ROOT / "ivr_flows"], catalogue=catalogue, known=Known(queues={"support"})
    )
    assert problems == [], format_human(problems)


def test_counter_guards_a_cycle(tmp_path: Path):
    path = tmp_path / "retry.yaml"
    path.write_text(
        """
name: retry
start: init
nodes:
  init: {type: set, values: {tries: 0}, next: call}
  call:
    type: http
    url: "http://127.0.0.1/x"
    on: {ok: done, error: count}
  count: {type: set, values: {tries: "tries + 1"}, next: again}
  again:
    type: switch
    cases: {"tries < 3": call}
    default: done
  done: {type: hangup}
"""
    )
    assert lint_paths([path]) == []


def test_variables_set_on_one_branch_only(tmp_path: Path):
    path = tmp_path / "branch.yaml"
    path.write_text(
        """
name: branch
start: menu
nodes:
  menu:
    type: menu
    prompt: p
    options: {"1": setit, "2": use}
    on: {exhausted: use}
  setit: {type: set, values: {x: "'a'"}, next: use}
  use: {type: switch, cases: {"x == 'a'": end}, default: end}
  end: {type: hangup}
"""
    )
    [problem] = lint_paths([path])
    assert problem.rule == "variable-unassigned" and "'x'" in problem.message


def test_output_formats():
    problems = lint_paths([LINT / "timer.yaml", LINT / "start-missing.yaml"])
    assert has_errors(problems)
    human = format_human(problems)
    assert "start-missing.yaml:2:8: error [start-missing]" in human
    assert human.endswith("error(s), 1 warning(s)")
    data = json.loads(format_json(problems))
    assert {"file", "line", "column", "rule", "severity", "message"} <= set(data[0])


def caller(name: str, calls: str, *, other: str = "") -> str:
    return f"""name: {name}
start: go
nodes:
  {other}go:
    type: subflow
    flow: {calls}
    on: {{other: done}}
  done: {{type: return, outcome: ok}}
"""


def test_flows_calling_each_other_report_the_path_of_calls(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(caller("a", "b"))
    # b first calls a flow that calls nothing more, then back into a.
    (tmp_path / "b.yaml").write_text(
        caller("b", "a", other="leaf: {type: subflow, flow: c, on: {other: go}}\n  ")
    )
    (tmp_path / "c.yaml").write_text("name: c\nstart: r\nnodes:\n  r: {type: return}\n")
    problems = [p for p in lint_paths([tmp_path]) if p.rule == "subflow-recursion"]
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert [(p.file, p.line, p.severity) for p in problems] == [
        (str(a), 6, "error"),
        (str(b), 7, "error"),
    ]
    assert problems[0].message == (
        f"flow 'a' can call itself through subflows: a ({a}:6 node 'go') → b ({b}:7 node 'go') → a"
    )
    assert problems[1].message.endswith(f"b ({b}:7 node 'go') → a ({a}:6 node 'go') → b")


def test_a_flow_called_twice_without_a_loop_is_not_recursion(tmp_path: Path):
    (tmp_path / "top.yaml").write_text(
        caller("top", "shared", other="first: {type: subflow, flow: shared, on: {other: go}}\n  ")
    )
    (tmp_path / "shared.yaml").write_text("name: shared\nstart: r\nnodes:\n  r: {type: return}\n")
    assert [p for p in lint_paths([tmp_path]) if p.rule == "subflow-recursion"] == []
