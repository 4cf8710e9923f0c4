"""docs/events.md, generated from the event catalogue.

python -m hotline.events_doc            # rewrite docs/events.md
python -m hotline.events_doc --check    # exit 1 if docs/events.md is out of date
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from collections.abc import Iterable
from pathlib import Path

from hotline.events import CATALOGUE, EventSpec

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "events.md"

HEADER = """\
# Event catalogue

Every event type of the contact event log (`contact_events`), what it means and the
fields of its `data`. Generated from `hotline/events.py` by
`python -m hotline.events_doc`; do not edit by hand. The store refuses a type that is
not in the catalogue. `field?` is present only sometimes.

Besides `data`, every event has its `contact_id` (none for agent-only events), `ts`,
and the `queue` and `agent` columns where they apply.
"""


def render() -> str:
    """The whole of docs/events.md."""
    parts = [HEADER]
    for family, specs in _families(CATALOGUE.values()):
        parts.append(f"\n## {family}\n\n| type | meaning | data |\n|---|---|---|\n")
        parts.extend(
            f"| `{spec.name.value}` | {spec.meaning} | {_fields(spec)} |\n" for spec in specs
        )
    return "".join(parts)


def _families(specs: Iterable[EventSpec]) -> list[tuple[str, list[EventSpec]]]:
    """The specs grouped by the part of their name before the dot, in catalogue order."""
    grouped: dict[str, list[EventSpec]] = {}
    for spec in specs:
        grouped.setdefault(spec.name.value.split(".")[0], []).append(spec)
    return list(grouped.items())


def _fields(spec: EventSpec) -> str:
    """The payload's fields for a table cell (where a bare | would end the cell)."""
    hints = typing.get_type_hints(spec.payload)
    if not hints:
        return "(none)"
    required: frozenset[str] = getattr(spec.payload, "__required_keys__", frozenset())
    cell = ", ".join(
        f"`{name}{'' if name in required else '?'}: {type_name(hint)}`"
        for name, hint in hints.items()
    )
    return cell.replace("|", "\\|")


def type_name(hint: object) -> str:
    """A type as written in Python source: `int | None`, `dict[str, int]`, `any`."""
    if hint is type(None):
        return "None"
    if hint is typing.Any:
        return "any"
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(arg) for arg in typing.get_args(hint))
    if origin is not None:
        args = ", ".join(type_name(arg) for arg in typing.get_args(hint))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(hint, "__name__", str(hint))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check it is up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
        if current != text:
            print(f"{DOC_PATH.name} is out of date: run python -m hotline.events_doc")
            return 1
        return 0
    DOC_PATH.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
