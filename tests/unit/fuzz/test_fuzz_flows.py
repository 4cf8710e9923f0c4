"""Fuzzing the flow loader and linter: any text or near-valid flow gets problems that
name the file, a line and a column, or loads and lints; nothing else escapes."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hotline.flows.lint import lint_flowset
from hotline.flows.loader import FlowSet, LoadedFlow, parse_flow
from hotline.yamlsource import SourceError, parse_yaml
from tests.unit.fuzz.mutations import FUZZ, dump, mutated

HOME = Path(__file__).resolve().parents[3]
SEEDS = [parse_yaml(p.read_text(), p)[0] for p in sorted((HOME / "ivr_flows").glob("*.yaml"))]
NAME = "ivr_flows/fuzzed.yaml"


def check(text: str | bytes) -> LoadedFlow | None:
    try:
        loaded = parse_flow(text, NAME)
    except SourceError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.file == NAME
            assert problem.line >= 1 and problem.column >= 1
            assert problem.message.strip()
        return None
    for problem in lint_flowset(FlowSet.of(loaded)):
        assert problem.line >= 1 and problem.column >= 1
        assert problem.message.strip() and problem.severity in ("error", "warning")
    return loaded


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    check(text)


@FUZZ
@given(mutated(SEEDS))
def test_near_valid_flows(doc: object) -> None:
    check(dump(doc))


def test_the_seeds_load_and_lint() -> None:
    """The mutations start from flows that load: the fuzzing reaches the validators."""
    for seed in SEEDS:
        assert check(dump(seed)) is not None


def test_a_control_character_is_a_located_problem() -> None:
    """Found by the fuzzer: PyYAML's reader error escaped the loader."""
    try:
        parse_flow("name: x\nstart: a\nnodes: {}\x1f\n", NAME)
    except SourceError as error:
        assert str(error) == (f"{NAME}:3:10: YAML: character #x001f is not allowed in YAML text")
    else:
        raise AssertionError("a control character was accepted")


def test_nesting_too_deep_is_a_problem_not_a_crash() -> None:
    """Found in review: PyYAML parses nested collections recursively."""
    for text in ("[" * 5000, "a: " + "{b: " * 3000, "- " * 3000 + "x"):
        try:
            parse_flow(text, NAME)
        except SourceError as error:
            assert str(error) == f"{NAME}:1:1: YAML: collections nested too deep"
        else:
            raise AssertionError("accepted")
