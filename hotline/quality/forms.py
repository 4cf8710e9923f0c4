"""Evaluation forms: one YAML file per form in `config/evaluations/`.

    form: call_quality
    title: Call quality
    pass_mark: 80          # a score (0-100) at or above this passes
    sections:
      - id: opening
        title: Opening
        weight: 1          # the section's share of the total
        questions:
          - id: greeting
            text: Did the agent greet the customer and give their name?
            type: yes_no   # yes_no | scale
            weight: 2      # the question's share of its section
            na_allowed: false
            fail_all: false  # a "no" here fails the whole evaluation (score 0)
          - id: empathy
            text: How well did the agent acknowledge the customer's problem?
            type: scale
            scale: {min: 1, max: 5}
            na_allowed: true

A broken form is refused with file, line and field (`SourceError`), like flows and the
config.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hotline.yamlsource import Positions, SourceError, SourceProblem, load_yaml, validation_problems

Ident = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Weight = Annotated[float, Field(gt=0, le=1000)]


class Scale(BaseModel):
    """The integer range of a scale question."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int = Field(ge=0, le=100)
    max: int = Field(ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be greater than min ({self.min})")
        return self


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Ident
    text: Text
    type: Literal["yes_no", "scale"]
    weight: Weight = 1.0
    na_allowed: bool = False
    fail_all: bool = False
    scale: Scale | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Question:
        if self.type == "scale" and self.scale is None:
            raise ValueError("a scale question needs scale: {min: ..., max: ...}")
        if self.type == "yes_no" and self.scale is not None:
            raise ValueError("scale is only for questions of type scale")
        if self.fail_all and self.type != "yes_no":
            # A fail-all question must have one unambiguous failing answer.
            raise ValueError("fail_all is only for yes_no questions (a 'no' fails the form)")
        return self


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Ident
    title: Text
    weight: Weight = 1.0
    questions: list[Question] = Field(min_length=1, max_length=100)


class Form(BaseModel):
    """One evaluation form, validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    form: Ident
    title: Text
    pass_mark: float = Field(default=80.0, ge=0, le=100)
    sections: list[Section] = Field(min_length=1, max_length=50)

    def questions(self) -> Iterable[tuple[Section, Question]]:
        for section in self.sections:
            for question in section.questions:
                yield section, question

    def question(self, question_id: str) -> Question | None:
        return next((q for _, q in self.questions() if q.id == question_id), None)


@dataclass(frozen=True)
class LoadedForm:
    form: Form
    path: Path


def load_form(path: str | Path) -> Form:
    """Read and lint one form file; a SourceError names file, line and field."""
    path = Path(path)
    data, positions = load_yaml(path)
    try:
        form = Form.model_validate(data if data is not None else {})
    except ValidationError as error:
        raise SourceError(validation_problems(error, path, positions, data)) from None
    problems = _duplicate_ids(form, path, positions)
    if problems:
        raise SourceError(problems)
    return form


def _duplicate_ids(form: Form, path: Path, positions: Positions) -> list[SourceProblem]:
    """Section ids, and question ids across the whole form, must be unique."""
    problems: list[SourceProblem] = []
    sections: set[str] = set()
    questions: set[str] = set()
    for s, section in enumerate(form.sections):
        if section.id in sections:
            line, col = positions.value(("sections", s, "id"))
            problems.append(
                SourceProblem(
                    str(path), line, col, f"sections.{s}.id", f"duplicate section id {section.id!r}"
                )
            )
        sections.add(section.id)
        for q, question in enumerate(section.questions):
            if question.id in questions:
                where = ("sections", s, "questions", q, "id")
                line, col = positions.value(where)
                problems.append(
                    SourceProblem(
                        str(path),
                        line,
                        col,
                        ".".join(map(str, where)),
                        f"duplicate question id {question.id!r} (ids are unique across the form)",
                    )
                )
            questions.add(question.id)
    return problems


def load_forms(directory: str | Path) -> dict[str, Form]:
    """Every `*.yaml` form of a directory by form id; all problems of all files at once."""
    directory = Path(directory)
    forms: dict[str, LoadedForm] = {}
    problems: list[SourceProblem] = []
    if not directory.is_dir():
        return {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            form = load_form(path)
        except SourceError as error:
            problems.extend(error.problems)
            continue
        if form.form in forms:
            _, positions = load_yaml(path)
            line, col = positions.value(("form",))
            first = forms[form.form].path.name
            problems.append(
                SourceProblem(
                    str(path),
                    line,
                    col,
                    "form",
                    f"form id {form.form!r} is also defined in {first}",
                )
            )
            continue
        forms[form.form] = LoadedForm(form, path)
    if problems:
        raise SourceError(problems)
    return {name: loaded.form for name, loaded in forms.items()}
