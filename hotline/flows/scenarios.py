"""Scenario tests written next to the flows (`ivr_flows/tests/*.yaml`), and coverage.

flow: main
scenarios:
  - name: caller asks for opening hours
    inputs: ["1", "1"]
    overrides: {hours: open}
    expect:
      prompts: [welcome, main_menu, opening_hours]   # in this order, gaps allowed
      outcome: completed
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline.catalogue import Catalogue
from hotline.flows import analysis
from hotline.flows.loader import FlowSet
from hotline.flows.port import RecordOutcome, TransferOutcome
from hotline.flows.simulator import Overrides, Transcript, simulate
from hotline.yamlsource import SourceError, load_yaml, validation_problems


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Expect(Strict):
    #: Catalogue keys that must be said in this order (others may come between).
    prompts: list[str] = []
    #: Node ids that must be visited in this order (others may come between).
    path: list[str] = []
    outcome: str | None = None
    language: str | None = None
    #: Variables that must end with these values.
    variables: dict[str, Any] = {}


class ScenarioOverrides(Strict):
    """How the world answers: see `simulator.Overrides`."""

    hours: Literal["open", "closed"] | None = None
    #: integration -> {status: 200, json: ...} or "timeout"; or a JSON file beside the test.
    http: str | dict[str, Any] = {}
    queue: Literal["answered", "timeout", "full", "closed", "left"] = "answered"
    transfer: TransferOutcome = "answered"
    record: RecordOutcome = "recorded"


class Scenario(Strict):
    name: str
    inputs: list[str] = []
    language: str = "en"
    variables: dict[str, Any] = {}
    overrides: ScenarioOverrides = ScenarioOverrides()
    expect: Expect


class ScenarioFile(Strict):
    flow: str
    scenarios: list[Scenario] = Field(min_length=1)


@dataclass(frozen=True)
class Case:
    """One scenario with where it came from."""

    file: Path
    flow: str
    scenario: Scenario
    line: int

    @property
    def id(self) -> str:
        return f"{self.file.stem}: {self.scenario.name}"


@dataclass
class Outcome:
    case: Case
    transcript: Transcript
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def load_cases(directory: str | Path) -> list[Case]:
    """Every scenario in the folder's *.yaml files."""
    cases: list[Case] = []
    for path in sorted(Path(directory).glob("*.yaml")):
        data, positions = load_yaml(path)
        try:
            parsed = ScenarioFile.model_validate(data)
        except ValidationError as error:
            raise SourceError(validation_problems(error, path, positions, data)) from None
        for index, scenario in enumerate(parsed.scenarios):
            line, _ = positions.value(("scenarios", index))
            cases.append(Case(path, parsed.flow, scenario, line))
    return cases


async def run_case(flowset: FlowSet, case: Case, catalogue: Catalogue | None = None) -> Outcome:
    """Simulate one scenario and compare with what it expects."""
    scenario = case.scenario
    overrides = Overrides.from_mapping(scenario.overrides.model_dump(), base=case.file.parent)
    transcript = await simulate(
        flowset,
        case.flow,
        scenario.inputs,
        overrides,
        catalogue=catalogue,
        language=scenario.language,
        variables=dict(scenario.variables),
    )
    expect = scenario.expect
    failures = []
    if missing := _not_in_order(expect.prompts, transcript.prompts):
        failures.append(f"prompts: {missing!r} not said in order; said {transcript.prompts}")
    if missing := _not_in_order(expect.path, transcript.path):
        failures.append(f"path: {missing!r} not reached in order; went {transcript.path}")
    if expect.outcome is not None and transcript.outcome != expect.outcome:
        failures.append(f"outcome: expected {expect.outcome!r}, got {transcript.outcome!r}")
    if expect.language is not None and transcript.result.language != expect.language:
        failures.append(
            f"language: expected {expect.language!r}, got {transcript.result.language!r}"
        )
    for name, value in expect.variables.items():
        if transcript.variables.get(name) != value:
            failures.append(
                f"variable {name}: expected {value!r}, got {transcript.variables.get(name)!r}"
            )
    return Outcome(case, transcript, failures)


def _not_in_order(expected: Sequence[str], actual: Sequence[str]) -> str | None:
    """The first expected item not found (in order) in actual, or None if all are."""
    remaining = iter(actual)
    for item in expected:
        if not any(item == seen for seen in remaining):
            return item
    return None


@dataclass
class FlowCoverage:
    flow: str
    nodes: set[str]
    reached_nodes: set[str]
    #: (node, outcome) pairs the flow can take, and those scenarios took.
    outcomes: set[tuple[str, str]]
    taken: set[tuple[str, str]]

    @property
    def missed_nodes(self) -> list[str]:
        return sorted(self.nodes - self.reached_nodes)

    @property
    def missed_outcomes(self) -> list[tuple[str, str]]:
        return sorted(self.outcomes - self.taken)

    def summary(self) -> str:
        lines = [
            f"{self.flow}: nodes {len(self.reached_nodes & self.nodes)}/{len(self.nodes)},"
            f" outcomes {len(self.taken & self.outcomes)}/{len(self.outcomes)}"
        ]
        lines += [f"  node never reached: {n}" for n in self.missed_nodes]
        lines += [f"  outcome never taken: {n} -> {o}" for n, o in self.missed_outcomes]
        return "\n".join(lines)


def coverage(flowset: FlowSet, transcripts: Iterable[Transcript]) -> dict[str, FlowCoverage]:
    """Which nodes and outcomes of each flow the transcripts went through."""
    returns = {f.name: analysis.returns(f.flow) for f in flowset}
    result = {
        f.name: FlowCoverage(
            f.name,
            set(f.flow.nodes),
            set(),
            {(e.source, e.outcome) for e in analysis.edges(f.flow, returns)},
            set(),
        )
        for f in flowset
    }
    for transcript in transcripts:
        for type, data in transcript.events:
            entry = result.get(data.get("flow", ""))
            if entry is None:
                continue
            if type == "flow.node":
                entry.reached_nodes.add(data["node"])
            elif type == "flow.outcome":
                entry.taken.add((data["node"], data["outcome"]))
    return result
