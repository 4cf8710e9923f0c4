"""YAML with source positions, and errors that name file, line, column and field.

`load_yaml` returns the plain data plus a `Positions` map from a field path (the keys
and list indexes leading to a value) to where that value, and its key, start in the
file. `validation_problems` turns a pydantic `ValidationError` into `SourceProblem`s
located with that map, so a bad config or flow reads like a compiler error:

    ivr_flows/main.yaml:12:5: nodes.main_menu.options.1: expected a node id (string), got 42
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

PathKey = tuple[str, ...]


def word_for_bool(value: object, true: str, false: str) -> object:
    """A setting whose values are words, as YAML 1.1 read it: an unquoted yes/no or
    on/off comes as a boolean, and is the word again; anything else as it is."""
    if isinstance(value, bool):
        return true if value else false
    return value


@dataclass(frozen=True)
class SourceProblem:
    """One problem at a place in a source file."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class SourceError(Exception):
    """One or more problems in source files; `str()` gives one line per problem."""

    def __init__(self, problems: Sequence[SourceProblem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    @classmethod
    def single(
        cls, file: str | Path, line: int, column: int, field: str, message: str
    ) -> SourceError:
        return cls([SourceProblem(str(file), line, column, field, message)])

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class Positions:
    """Where each value (and each mapping key) starts: 1-based line and column.

    Paths are tuples of strings: mapping keys as written (`str()` of non-string keys)
    and list indexes as decimal strings, so lookups work whatever type pydantic reports.
    """

    def __init__(self) -> None:
        self.values: dict[PathKey, tuple[int, int]] = {}
        self.keys: dict[PathKey, tuple[int, int]] = {}

    def value(self, path: Iterable[object]) -> tuple[int, int]:
        """Where the value at `path` starts, or its nearest enclosing value."""
        return self._nearest(self.values, _key(path))

    def key(self, path: Iterable[object]) -> tuple[int, int]:
        """Where the key naming `path` starts (the value's place for list items)."""
        key = _key(path)
        if key in self.keys:
            return self.keys[key]
        return self._nearest(self.values, key)

    def __contains__(self, path: Iterable[object]) -> bool:
        return _key(path) in self.values

    def _nearest(self, table: dict[PathKey, tuple[int, int]], key: PathKey) -> tuple[int, int]:
        while key:
            if key in table:
                return table[key]
            key = key[:-1]
        return table.get((), (1, 1))


def _key(path: Iterable[object]) -> PathKey:
    return tuple(str(p) for p in path)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return _mark_position(node.start_mark)


class _Mark(Protocol):
    """A place in the YAML text (PyYAML's pure-Python and libyaml marks alike)."""

    line: int
    column: int


def _mark_position(mark: _Mark | None) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


#: How many values aliases may add to those written in a file. Aliases inside anchored
#: collections multiply (a "billion laughs": ten aliases of ten aliases of ...), and
#: everything after parsing (positions, validation) walks the expanded document.
MAX_ALIAS_EXPANSION = 50_000


class AliasExpansionRefused(yaml.YAMLError):
    """Aliases would expand a document far beyond what is written, or into itself."""

    def __init__(self, message: str, mark: _Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.line, self.column = _mark_position(mark)


class Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and a bound on what aliases expand to.

    YAML 1.1 also reads on/off/yes/no/y/n as booleans, which turns a flow's `on:` key
    into True and the language code `no` (Norwegian) into False.

    Each composed node's expanded size (itself and everything below it, aliases counted
    as often as they are used) is known as soon as it is complete, so a document whose
    aliases add more than `MAX_ALIAS_EXPANSION` values is refused while it is composed,
    before anything walks it; so is an alias used inside its own anchor.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[yaml.Node, int] = {}
        self._written = 0
        self._last_alias: _Mark | None = None

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # check_event peeks: the event it found is the parser's current one.
        alias: yaml.AliasEvent | None = (
            self.current_event if self.check_event(yaml.AliasEvent) else None
        )
        node = super().compose_node(parent, index)
        assert node is not None  # the stubs allow None; PyYAML always composes a node
        if alias is not None:
            self._last_alias = alias.start_mark
            if node not in self._sizes:
                raise AliasExpansionRefused(
                    f"alias *{alias.anchor} is used inside its own anchor &{alias.anchor}",
                    alias.start_mark,
                )
            return node
        self._written += 1
        self._sizes[node] = 1 + sum(self._sizes[child] for child in _children(node))
        if self._sizes[node] - self._written > MAX_ALIAS_EXPANSION:
            raise AliasExpansionRefused(
                f"aliases expand the document by more than {MAX_ALIAS_EXPANSION} values "
                "beyond those written (nested aliases multiply); write the values out",
                self._last_alias or node.start_mark,
            )
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_yaml(path: str | Path) -> tuple[Any, Positions]:
    """Parse one YAML document; raise SourceError (file:line:col) on bad syntax."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SourceError.single(path, 1, 1, "", f"cannot read: {error}") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, file: str | Path = "<string>") -> tuple[Any, Positions]:
    """Like `load_yaml`, from text; `file` only names the source in errors."""
    try:
        loader = Loader(text)
    except yaml.reader.ReaderError as error:  # a control character: found before parsing
        at = error.position
        line, column = text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
        message = f"YAML: character #x{error.character:04x} is not allowed in YAML text"
        raise SourceError.single(file, line, column, "", message) from None
    try:
        node = loader.get_single_node()
        # Record positions first: constructing flattens merge keys (<<) in place.
        positions = Positions()
        if node is not None:
            _walk(node, (), positions, loader, str(file))
        data = loader.construct_document(node) if node is not None else None
    except AliasExpansionRefused as error:
        raise SourceError.single(
            file, error.line, error.column, "", f"YAML: {error.message}"
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(p for p in (error.context, error.problem) if p) or "invalid YAML"
        raise SourceError.single(file, line, column, "", f"YAML syntax: {message}") from None
    except yaml.YAMLError as error:
        raise SourceError.single(file, 1, 1, "", f"YAML: {error}") from None
    except RecursionError:  # PyYAML parses nested collections recursively
        raise SourceError.single(file, 1, 1, "", "YAML: collections nested too deep") from None
    finally:
        loader.dispose()
    return data, positions


def _walk(node: yaml.Node, path: PathKey, positions: Positions, loader: Loader, file: str) -> None:
    positions.values.setdefault(path, _mark(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` keys are the anchor's, positioned there
            key = str(loader.construct_object(key_node, deep=True))
            if key in seen:
                line, column = _mark(key_node)
                first = seen[key][0]
                field = ".".join((*path, key))
                raise SourceError.single(
                    file, line, column, field, f"duplicate key {key!r} (first on line {first})"
                )
            seen[key] = _mark(key_node)
            positions.keys.setdefault((*path, key), _mark(key_node))
            _walk(value_node, (*path, key), positions, loader, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, str(index)), positions, loader, file)


# What pydantic's error types mean, said as "expected ...".
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_type": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "time_type": "a time (HH:MM)",
    "time_parsing": "a time (HH:MM)",
}


def validation_problems(
    error: ValidationError, file: str | Path, positions: Positions, data: Any = None
) -> list[SourceProblem]:
    """Locate each error of a pydantic validation in the source file.

    Pass the validated `data` when the model uses unions: pydantic puts union tags and
    validator names in error locations, and only the data tells them from field names.
    """
    problems = []
    for detail in error.errors(include_url=False):
        path = _data_path(detail["loc"], data)
        problems.append(_problem(detail, path, str(file), positions))
    return problems


def _data_path(loc: tuple[int | str, ...], data: Any) -> PathKey:
    """Keep the parts of a pydantic location that are keys or indexes in the data."""
    if data is None:
        return tuple(str(p) for p in loc if p != "[key]")
    path: list[str] = []
    current = data
    for part in loc:
        if isinstance(current, dict):
            match = next((k for k in current if str(k) == str(part)), _MISSING)
            if match is not _MISSING:
                path.append(str(part))
                current = current[match]
                continue
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(str(part))
            current = current[part]
            continue
        if isinstance(part, str) and _is_member_name(part, current):
            continue  # a union member, tag or validator name, not a field
        path.append(str(part))  # a missing field: name it
        current = None
    return tuple(path)


_MISSING = object()
_TYPE_NAMES = {"str", "int", "float", "bool", "list", "dict", "none", "is-instance", "literal"}


def _is_member_name(part: str, current: Any) -> bool:
    if "[" in part or part in _TYPE_NAMES or part[:1].isupper():
        return True
    if not isinstance(current, dict):
        return True  # nothing under a scalar is a field
    # A discriminated union's tag is the value of the discriminator field (`type: menu`).
    return any(isinstance(v, str) and v == part for v in current.values())


def _problem(detail: ErrorDetails, path: PathKey, file: str, positions: Positions) -> SourceProblem:
    kind = detail["type"]
    field = ".".join(path)
    given = detail.get("input")
    if kind == "missing":
        parent, name = path[:-1], path[-1] if path else ""
        line, column = positions.value(parent)
        return SourceProblem(
            file, line, column, ".".join(parent), f"missing required field {name!r}"
        )
    if kind == "extra_forbidden":
        line, column = positions.key(path)
        return SourceProblem(file, line, column, field, "unknown field")
    if kind == "union_tag_not_found":
        name = detail.get("ctx", {}).get("discriminator", "").strip("'")
        line, column = positions.value(path)
        return SourceProblem(file, line, column, field, f"missing required field {name!r}")
    if kind == "union_tag_invalid":
        ctx = detail.get("ctx", {})
        name = ctx.get("discriminator", "").strip("'")
        line, column = positions.value((*path, name))
        message = f"expected {name} one of {ctx.get('expected_tags')}"
        return SourceProblem(file, line, column, field, f"{message}, got {ctx.get('tag')!r}")
    line, column = positions.value(path)
    if kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {_show(given)}"
    elif kind == "literal_error":
        message = f"expected {detail.get('ctx', {}).get('expected', '?')}, got {_show(given)}"
    elif kind == "value_error":
        message = str(detail["msg"]).removeprefix("Value error, ")
    elif kind.startswith(("greater", "less")) or kind in ("string_too_short", "too_short"):
        message = f"{detail['msg'][0].lower()}{detail['msg'][1:]}, got {_show(given)}"
    elif kind == "string_pattern_mismatch":
        pattern = detail.get("ctx", {}).get("pattern", "")
        message = f"expected text matching {pattern}, got {_show(given)}"
    elif kind.startswith("custom_") or kind not in _PYDANTIC_KINDS:
        # Our own PydanticCustomError messages already say "expected ...".
        message = f"{detail['msg']}, got {_show(given)}"
    else:
        message = f"{detail['msg'][0].lower()}{detail['msg'][1:]}"
    return SourceProblem(file, line, column, field, message)


_PYDANTIC_KINDS = {
    "too_long",
    "string_too_long",
    "enum",
    "url_parsing",
    "url_scheme",
    "assertion_error",
    "json_invalid",
    "none_required",
}


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
