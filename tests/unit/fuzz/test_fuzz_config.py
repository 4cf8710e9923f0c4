"""Fuzzing the config loader: a near-valid hotline.yaml loads, or its problems name
the file, a line and the field; no other exception escapes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hotline.config import HotlineConfig, load_config
from hotline.yamlsource import SourceError, parse_yaml
from tests.unit.fuzz.mutations import FUZZ, dump, mutated

HOME = Path(__file__).resolve().parents[3]
SEED = parse_yaml((HOME / "config/hotline.yaml").read_text(), "config/hotline.yaml")[0]


def check(text: str) -> HotlineConfig | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hotline.yaml"
        path.write_text(text)
        try:
            config = load_config(path)
        except SourceError as error:
            assert error.problems
            for problem in error.problems:
                assert problem.file == str(path)
                assert problem.line >= 1 and problem.column >= 1
                assert problem.message.strip()
            return None
    config.routing_warnings()
    return config


@FUZZ
@given(mutated([SEED]))
def test_near_valid_configs(doc: object) -> None:
    check(dump(doc))


@FUZZ
@given(st.text(max_size=200))
def test_any_text(text: str) -> None:
    check(text)


def test_the_seed_loads() -> None:
    assert check(dump(SEED)) is not None


def test_a_strategy_that_is_not_a_name_is_a_located_problem(tmp_path: Path) -> None:
    """Found by the fuzzer: a mapping as a queue's strategy raised TypeError."""
    text = dump(SEED).replace("queues:\n", "queues:\n  weird:\n    strategy: {a: 1}\n", 1)
    path = tmp_path / "hotline.yaml"
    path.write_text(text)
    try:
        load_config(path)
    except SourceError as error:
        assert "unknown strategy {'a': 1}; valid strategies: longest_idle" in str(error)
        assert f"{path}:" in str(error) and "queues.weird.strategy" in str(error)
    else:
        raise AssertionError("accepted")
