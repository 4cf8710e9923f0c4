"""The event catalogue covers every event type the code writes or reads, the doc is
generated from it, and the store refuses a type it does not have."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.acd.states import TRANSITIONS
from hotline.events import CATALOGUE, EventType, UnknownEventType, spec_of
from hotline.events_doc import DOC_PATH, main, render, type_name
from hotline.store import Store

ROOT = Path(__file__).resolve().parents[3]
#: The project's code: the core and every adapter.
PACKAGES = ("hotline", "ari_app", "agi", "chat_bridge", "controller", "voice")
FAMILIES = {kind.value.split(".")[0] for kind in EventType}
#: A literal that looks like an event type of a known family ("call.ended").
LOOKS_LIKE_EVENT = re.compile(rf"(?:{'|'.join(sorted(FAMILIES))})\.[a-z_]+")
DOTTED = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
#: File names of a family's name ("contact.html"), not event types.
FILE_NAME = re.compile(r".*\.(html|js|css|json|ya?ml|md|py|wav|sln16)")
#: Calls whose event type argument is checked whatever its family.
WRITERS = {"emit": 0, "append": 1, "append_soon": 1}


def project_files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def event_literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """String constants that are event types: any literal of a known family, and the
    type argument of every emit/append/append_soon call."""
    formatted = {
        id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if (
                id(node) not in formatted
                and LOOKS_LIKE_EVENT.fullmatch(node.value)
                and not FILE_NAME.fullmatch(node.value)
            ):
                yield node.lineno, node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            position = WRITERS.get(node.func.attr)
            if position is not None and len(node.args) > position:
                arg = node.args[position]
                if (
                    isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str)
                    and DOTTED.fullmatch(arg.value)
                ):
                    yield arg.lineno, arg.value


def test_every_event_type_in_the_code_is_catalogued() -> None:
    unknown = [
        f"{path.relative_to(ROOT)}:{line}: {value}"
        for path in project_files()
        for line, value in event_literals(ast.parse(path.read_text(encoding="utf-8")))
        if value not in CATALOGUE
    ]
    assert unknown == [], "event types missing from hotline/events.py:\n" + "\n".join(unknown)


def test_the_scan_finds_uncatalogued_types() -> None:
    source = (
        'await store.append(cid, "parcel.sent", {})\n'
        'await self.emit("call.teleported", {})\n'
        'x = "call.ended"\n'
        'path = f"agent.{name}"\n'
    )
    found = {value for _, value in event_literals(ast.parse(source))}
    assert sorted(found) == ["call.ended", "call.teleported", "parcel.sent"]


def test_every_agent_transition_is_catalogued() -> None:
    # The routing engine writes f"agent.{action}" for each action of its state table.
    assert {f"agent.{action}" for action in TRANSITIONS} <= set(CATALOGUE)


def test_catalogue_entries_are_complete() -> None:
    assert set(CATALOGUE) == set(EventType)
    for kind, spec in CATALOGUE.items():
        assert spec.name is kind and spec.meaning.endswith(".")
        assert isinstance(spec.payload.__annotations__, dict)
    with pytest.raises(UnknownEventType, match=r"parcel\.sent"):
        spec_of("parcel.sent")


def test_the_doc_is_generated_from_the_catalogue() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/events.md is out of date: run python -m hotline.events_doc"
    )
    assert main(["--check"]) == 0


def test_the_doc_names_every_type_with_its_fields() -> None:
    doc = render()
    for kind in EventType:
        assert f"| `{kind.value}` |" in doc
    survey = next(line for line in doc.splitlines() if "`survey.answered`" in line)
    assert "`answers: dict[str, int \\| None]`" in survey
    assert type_name(int | None) == "int | None"


async def test_store_refuses_a_type_not_in_the_catalogue(store: Store) -> None:
    contact_id = await store.open_contact("voice", "inbound", "+15550100", "100")
    with pytest.raises(UnknownEventType, match=r"call\.teleported"):
        await store.append(contact_id, "call.teleported")
    with pytest.raises(UnknownEventType):
        store.append_soon(contact_id, "call.teleported")
    await store.append(contact_id, EventType.CALL_ANSWERED)
    assert [e.type for e in await store.events(contact_id)] == ["call.answered"]


def test_reports_name_event_types_through_the_catalogue() -> None:
    files = [
        *sorted((ROOT / "hotline" / "reports").glob("*.py")),
        ROOT / "hotline/web/wallboard.py",
    ]
    loose = [
        f"{path.relative_to(ROOT)}:{line}: {value}"
        for path in files
        for line, value in event_literals(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert loose == [], "use hotline.events.EventType:\n" + "\n".join(loose)
