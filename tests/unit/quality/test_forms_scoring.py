"""Evaluation forms: lint with file and line, and golden scores worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.quality.forms import Form, load_form, load_forms
from hotline.quality.scoring import AnswerError, score
from hotline.yamlsource import SourceError

REPO = Path(__file__).resolve().parents[3]

FORM = """\
form: f
title: F
pass_mark: 75
sections:
  - id: a
    title: A
    weight: 1
    questions:
      - {id: q1, text: Q1, type: yes_no, weight: 1}
      - {id: q2, text: Q2, type: yes_no, weight: 3, fail_all: true}
  - id: b
    title: B
    weight: 3
    questions:
      - {id: s1, text: S1, type: scale, scale: {min: 1, max: 5}, weight: 2}
      - {id: s2, text: S2, type: scale, scale: {min: 0, max: 10}, na_allowed: true}
      - {id: n1, text: N1, type: yes_no, na_allowed: true}
"""


def _form(tmp_path: Path, text: str = FORM, name: str = "f.yaml") -> Form:
    path = tmp_path / name
    path.write_text(text)
    return load_form(path)


def test_demo_form_loads() -> None:
    forms = load_forms(REPO / "config" / "evaluations")
    assert "call_quality" in forms
    assert forms["call_quality"].question("verified") is not None


def test_golden_weights(tmp_path: Path) -> None:
    form = _form(tmp_path)
    # a: q1 yes (1), q2 yes (1) -> 1.0
    # b: s1 4 on 1-5 -> 0.75 (w 2), s2 5 on 0-10 -> 0.5 (w 1), n1 no -> 0 (w 1)
    #    (1.5 + 0.5 + 0) / 4 = 0.5
    # total: (1 * 1.0 + 3 * 0.5) / 4 = 0.625 -> 62.5, below 75
    result = score(form, {"q1": "yes", "q2": "yes", "s1": 4, "s2": 5, "n1": "no"})
    assert result.sections == {"a": 100.0, "b": 50.0}
    assert result.questions == {"q1": 100.0, "q2": 100.0, "s1": 75.0, "s2": 50.0, "n1": 0.0}
    assert result.total == 62.5
    assert not result.passed
    assert result.failed_by == ()


def test_golden_na_leaves_weight_out(tmp_path: Path) -> None:
    form = _form(tmp_path)
    # a: q1 no (0, w 1), q2 yes (1, w 3) -> 0.75
    # b: s1 5 -> 1.0 (w 2), s2 and n1 n/a -> 1.0 (their weight is not counted)
    # total: (1 * 0.75 + 3 * 1.0) / 4 = 0.9375 -> 93.75, passes 75
    result = score(form, {"q1": "no", "q2": "yes", "s1": 5, "s2": "na", "n1": "na"})
    assert result.sections == {"a": 75.0, "b": 100.0}
    assert result.questions["s2"] is None and result.questions["n1"] is None
    assert result.total == 93.75
    assert result.passed


def test_golden_fail_all(tmp_path: Path) -> None:
    form = _form(tmp_path)
    # everything else perfect, but the fail-all q2 is "no": total 0, sections kept
    result = score(form, {"q1": "yes", "q2": "no", "s1": 5, "s2": 10, "n1": "yes"})
    assert result.total == 0.0
    assert result.failed_by == ("q2",)
    assert not result.passed
    assert result.sections == {"a": 25.0, "b": 100.0}


def test_golden_all_na_section_left_out(tmp_path: Path) -> None:
    text = FORM.replace(
        "{id: s1, text: S1, type: scale, scale: {min: 1, max: 5}, weight: 2}",
        "{id: s1, text: S1, type: scale, scale: {min: 1, max: 5}, na_allowed: true}",
    )
    form = _form(tmp_path, text)
    # b all n/a: no score, its weight 3 left out; total = a = (0 + 3) / 4 = 75 -> passes 75
    result = score(form, {"q1": "no", "q2": "yes", "s1": "na", "s2": "na", "n1": "na"})
    assert result.sections == {"a": 75.0, "b": None}
    assert result.total == 75.0
    assert result.passed


def test_golden_demo_form() -> None:
    form = load_forms(REPO / "config" / "evaluations")["call_quality"]
    # opening 1.0; handling (0.75*2 + 0*1) / 3 = 0.5 (empathy n/a);
    # closing 2/3; total (1 + 2*0.5 + 2/3) / 4 = 0.6667
    answers = {
        "greeting": "yes",
        "verified": "yes",
        "understood": 4,
        "empathy": "na",
        "hold_explained": "no",
        "resolved": "yes",
        "wrap_up": "no",
    }
    result = score(form, answers)
    assert result.total == 66.67
    assert result.sections == {"opening": 100.0, "handling": 50.0, "closing": 66.67}


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"q1": "yes", "q2": "yes", "s1": 4, "s2": 5}, "question 'n1' is not answered"),
        (
            {"q1": "na", "q2": "yes", "s1": 4, "s2": 5, "n1": "no"},
            "question 'q1' does not allow n/a",
        ),
        (
            {"q1": "maybe", "q2": "yes", "s1": 4, "s2": 5, "n1": "no"},
            "question 'q1' takes yes, no or na, got 'maybe'",
        ),
        (
            {"q1": "yes", "q2": "yes", "s1": 6, "s2": 5, "n1": "no"},
            "question 's1': 6 is outside 1-5",
        ),
        (
            {"q1": "yes", "q2": "yes", "s1": "4", "s2": 5, "n1": "no"},
            "question 's1' takes a whole number 1-5 or na, got '4'",
        ),
        (
            {"q1": "yes", "q2": "yes", "s1": True, "s2": 5, "n1": "no"},
            "question 's1' takes a whole number",
        ),
        (
            {"q1": "yes", "q2": "yes", "s1": 4, "s2": 5, "n1": "no", "zz": "yes"},
            "unknown question 'zz'",
        ),
    ],
)
def test_bad_answers_refused(tmp_path: Path, answers: dict[str, object], message: str) -> None:
    form = _form(tmp_path)
    with pytest.raises(AnswerError, match=message.replace("(", r"\(")):
        score(form, answers)


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        # line 10: q2; a scale fail_all has no single failing answer
        (
            "type: yes_no, weight: 3, fail_all: true",
            "type: scale, scale: {min: 1, max: 5}, fail_all: true",
            ":10:9: sections.0.questions.1: fail_all is only for yes_no questions",
        ),
        (
            "{id: s1, text: S1, type: scale, scale: {min: 1, max: 5}, weight: 2}",
            "{id: s1, text: S1, type: scale, weight: 2}",
            ":15:9: sections.1.questions.0: a scale question needs scale",
        ),
        (
            "scale: {min: 1, max: 5}",
            "scale: {min: 5, max: 5}",
            ":15:48: sections.1.questions.0.scale: max (5) must be greater than min (5)",
        ),
        (
            "weight: 3, fail_all",
            "weight: -1, fail_all",
            ":10:50: sections.0.questions.1.weight: input should be greater than 0",
        ),
        (
            "type: yes_no, weight: 1}",
            "type: choice, weight: 1}",
            ":9:34: sections.0.questions.0.type: expected 'yes_no' or 'scale', got 'choice'",
        ),
        ("{id: n1,", "{id: s1,", ":17:14: sections.1.questions.2.id: duplicate question id 's1'"),
        ("  - id: b\n", "  - id: a\n", ":11:9: sections.1.id: duplicate section id 'a'"),
        ("pass_mark: 75", "pass_mark: 175", ":3:12: pass_mark:"),
        ("title: F\n", "title: F\ncolour: red\n", ":3:1: colour:"),
    ],
)
def test_broken_form_names_file_and_line(tmp_path: Path, old: str, new: str, where: str) -> None:
    assert old in FORM
    with pytest.raises(SourceError) as caught:
        _form(tmp_path, FORM.replace(old, new, 1))
    assert f"f.yaml{where}" in str(caught.value)


def test_same_form_id_in_two_files_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(FORM)
    (tmp_path / "b.yaml").write_text("# the same id\n" + FORM)
    with pytest.raises(
        SourceError, match=r"b\.yaml:2:7: form: form id 'f' is also defined in a\.yaml"
    ):
        load_forms(tmp_path)


def test_yaml_syntax_error_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"f\.yaml:4:1: YAML syntax"):
        _form(tmp_path, "form: f\ntitle: F\nsections: [\n")
