import time
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from hotline.yamlsource import (
    MAX_ALIAS_EXPANSION,
    SourceError,
    SourceProblem,
    load_yaml,
    parse_yaml,
    validation_problems,
)


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: int
    name: str = "x"


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: dict[str, Inner]
    tags: list[str] = []


def problems(text: str) -> list[SourceProblem]:
    data, positions = parse_yaml(text, "conf.yaml")
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate(data)
    return validation_problems(caught.value, "conf.yaml", positions, data)


def test_positions_of_keys_and_values():
    data, positions = parse_yaml("a:\n  b: 1\n  c:\n    - x\n    - {d: 2}\n")
    assert data == {"a": {"b": 1, "c": ["x", {"d": 2}]}}
    assert positions.value(("a", "b")) == (2, 6)
    assert positions.key(("a", "b")) == (2, 3)
    assert positions.value(("a", "c", 1, "d")) == (5, 11)
    assert positions.value(("a", "missing", "deeper")) == (2, 3)  # nearest enclosing value


def test_wrong_type_names_file_line_field_and_value():
    [problem] = problems("items:\n  web:\n    port: eighty\n")
    assert str(problem) == "conf.yaml:3:11: items.web.port: expected an integer, got 'eighty'"


def test_missing_field_points_at_the_mapping():
    [problem] = problems("items:\n  web:\n    name: a\n")
    assert (problem.line, problem.field) == (3, "items.web")
    assert problem.message == "missing required field 'port'"


def test_unknown_field_points_at_its_key():
    [problem] = problems("items:\n  web: {port: 1}\nextra: 3\n")
    assert (problem.line, problem.column, problem.field) == (3, 1, "extra")
    assert problem.message == "unknown field"


def test_list_items_are_located():
    [problem] = problems("items: {}\ntags:\n  - ok\n  - [1]\n")
    assert (problem.line, problem.column, problem.field) == (4, 5, "tags.1")


def test_syntax_error_names_line_and_column(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\nb: [1, 2\n")
    with pytest.raises(SourceError) as caught:
        load_yaml(path)
    [problem] = caught.value.problems
    assert problem.file == str(path) and problem.line >= 2
    assert "YAML syntax" in problem.message


def test_duplicate_keys_are_errors():
    with pytest.raises(SourceError, match=r"x.yaml:3:1: a: duplicate key 'a' \(first on line 1\)"):
        parse_yaml("a: 1\nb: 2\na: 3\n", "x.yaml")


def test_yaml_1_2_booleans_keep_on_and_no_as_text():
    data, _ = parse_yaml("on: {open: x}\nlang: no\nflag: true\n")
    assert data == {"on": {"open": "x"}, "lang": "no", "flag": True}


def test_source_error_prints_one_line_per_problem():
    error = SourceError(
        [SourceProblem("f.yaml", 1, 2, "a", "bad"), SourceProblem("f.yaml", 3, 4, "", "worse")]
    )
    assert str(error) == "f.yaml:1:2: a: bad\nf.yaml:3:4: worse"
    assert str(SourceError.single("g.yaml", 5, 6, "b", "no")) == "g.yaml:5:6: b: no"


def billion_laughs(levels: int) -> str:
    """Ten aliases of ten aliases of ...: a few hundred bytes, 10**levels values."""
    lines = ["lol0: &lol0 [" + ", ".join(["lol"] * 10) + "]"]
    for level in range(1, levels):
        lines.append(f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [6, 9])
def test_a_billion_laughs_is_refused_at_once_naming_the_line(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs(levels))
    started = time.perf_counter()
    with pytest.raises(SourceError) as caught:
        load_yaml(path)
    assert time.perf_counter() - started < 0.5
    [problem] = caught.value.problems
    # lol4 holds 10 aliases of lol3 (11,111 values each): its last alias crosses the limit.
    assert (problem.file, problem.line) == (str(path), 5)
    assert problem.message == (
        f"YAML: aliases expand the document by more than {MAX_ALIAS_EXPANSION} values "
        "beyond those written (nested aliases multiply); write the values out"
    )


def test_merge_keys_that_multiply_are_refused() -> None:
    lines = ["m0: &m0 {" + ", ".join(f"k{i}: v" for i in range(10)) + "}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}, *m{i - 1}]}}" for i in range(1, 30)]
    with pytest.raises(SourceError, match=r"^merge.yaml:\d+:\d+: YAML: aliases expand"):
        parse_yaml("\n".join(lines) + "\n", "merge.yaml")


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(SourceError) as caught:
        parse_yaml("a: 1\nloop: &loop\n  - x\n  - *loop\n", "loop.yaml")
    assert (
        str(caught.value) == "loop.yaml:4:5: YAML: alias *loop is used inside its own anchor &loop"
    )


def test_aliases_and_merge_keys_within_the_limit_still_work() -> None:
    text = (
        "defaults: &defaults {ring_timeout: 20, skills: [en, billing]}\n"
        "sales: {<<: *defaults, ring_timeout: 10}\n"
        "support: *defaults\n"
        "many: [" + ", ".join(["*defaults"] * 1000) + "]\n"
    )
    data, positions = parse_yaml(text)
    assert data["sales"] == {"ring_timeout": 10, "skills": ["en", "billing"]}
    assert data["support"] is data["defaults"] and len(data["many"]) == 1000
    assert positions.value(("sales", "ring_timeout")) == (2, 38)
