"""The scenario tests in ivr_flows/tests/, one pytest case each, and their coverage."""

from pathlib import Path

import pytest

from hotline.catalogue import Catalogue
from hotline.flows.loader import load_flows
from hotline.flows.scenarios import coverage, load_cases, run_case

ROOT = Path(__file__).resolve().parents[3]
CASES = load_cases(ROOT / "ivr_flows" / "tests")


@pytest.fixture(scope="module")
def flowset():
    return load_flows(ROOT / "ivr_flows")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_scenario(flowset, catalogue: Catalogue, case):
    outcome = await run_case(flowset, case, catalogue)
    assert outcome.passed, "\n".join([*outcome.failures, str(outcome.transcript)])


async def test_failures_are_reported(flowset, tmp_path: Path):
    (tmp_path / "t.yaml").write_text(
        "flow: main\nscenarios:\n  - name: wrong\n    inputs: ['1', '1']\n"
        "    expect: {prompts: [goodbye, welcome], outcome: hangup, language: ru}\n"
    )
    [case] = load_cases(tmp_path)
    outcome = await run_case(flowset, case)
    assert len(outcome.failures) == 3
    assert outcome.failures[0].startswith("prompts: 'welcome' not said in order")


async def test_coverage_of_main(flowset):
    transcripts = [(await run_case(flowset, case)).transcript for case in CASES]
    main = coverage(flowset, transcripts)["main"]
    assert main.missed_nodes == []
    assert ("main_menu", "9") in main.taken
    assert "outcomes" in main.summary()


def test_bad_scenario_files_name_the_line(tmp_path: Path):
    from hotline.yamlsource import SourceError

    (tmp_path / "t.yaml").write_text(
        "flow: main\nscenarios:\n  - name: x\n    overrides: {hours: maybe}\n    expect: {}\n"
    )
    with pytest.raises(
        SourceError,
        match=r"t.yaml:4:24: scenarios.0.overrides.hours: expected .open. or .closed., got .maybe.",
    ):
        load_cases(tmp_path)
