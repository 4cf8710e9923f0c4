"""Load flow files (one, several, or the `ivr_flows/` folder) into a FlowSet."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from hotline.flows.model import Flow
from hotline.yamlsource import (
    Positions,
    SourceError,
    SourceProblem,
    parse_yaml,
    validation_problems,
)

SCHEMA_COMMENT = "# yaml-language-server: $schema=flow.schema.json"


@dataclass(frozen=True)
class LoadedFlow:
    """A validated flow and where it came from."""

    flow: Flow
    path: Path
    #: Short sha256 of the file bytes: which exact text a call ran.
    version: str
    positions: Positions = field(compare=False)

    @property
    def name(self) -> str:
        return self.flow.name

    def where(self, *path: object, key: bool = False) -> tuple[int, int]:
        """Line and column of a field (`where("nodes", "menu", "options")`)."""
        return self.positions.key(path) if key else self.positions.value(path)


@dataclass
class FlowSet:
    """The loaded flows by name."""

    flows: dict[str, LoadedFlow] = field(default_factory=dict)

    def __getitem__(self, name: str) -> LoadedFlow:
        return self.flows[name]

    def __contains__(self, name: object) -> bool:
        return name in self.flows

    def __iter__(self) -> Iterator[LoadedFlow]:
        return iter(self.flows.values())

    def __len__(self) -> int:
        return len(self.flows)

    def names(self) -> list[str]:
        return sorted(self.flows)

    @classmethod
    def of(cls, *flows: LoadedFlow) -> FlowSet:
        return cls({f.name: f for f in flows})


def flow_files(directory: Path) -> list[Path]:
    """The flow files directly in a folder (scenario tests live in `tests/` below it)."""
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_flow(path: str | Path) -> LoadedFlow:
    """Load and validate one flow file; raise SourceError naming file:line:col."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SourceError.single(path, 1, 1, "", f"cannot read: {error}") from None
    return parse_flow(raw, path)


def parse_flow(raw: bytes | str, path: str | Path = "<string>") -> LoadedFlow:
    """Validate a flow from its text; `path` names it in errors."""
    path = Path(path)
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SourceError.single(path, 1, 1, "", f"not UTF-8: {error}") from None
    data, positions = parse_yaml(text, path)
    if not isinstance(data, dict):
        raise SourceError.single(path, 1, 1, "", "expected a mapping with name, start and nodes")
    try:
        flow = Flow.model_validate(data)
    except ValidationError as error:
        raise SourceError(validation_problems(error, path, positions, data)) from None
    version = hashlib.sha256(raw).hexdigest()[:12]
    return LoadedFlow(flow, path, version, positions)


def gather_flows(paths: str | Path | Iterable[str | Path]) -> tuple[FlowSet, list[SourceProblem]]:
    """The flows that load from files and folders, and every problem of those that don't."""
    if isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    for item in map(Path, paths):
        files.extend(flow_files(item) if item.is_dir() else [item])
    flowset = FlowSet()
    problems: list[SourceProblem] = []
    for path in files:
        try:
            loaded = load_flow(path)
        except SourceError as error:
            problems.extend(error.problems)
            continue
        if loaded.name in flowset:
            line, column = loaded.where("name")
            first = flowset[loaded.name].path
            problems.append(
                SourceProblem(
                    str(path), line, column, "name", f"flow {loaded.name!r} is also in {first}"
                )
            )
            continue
        flowset.flows[loaded.name] = loaded
    return flowset, problems


def load_flows(paths: str | Path | Iterable[str | Path]) -> FlowSet:
    """Load flow files and folders into a FlowSet, reporting every file's problems at once."""
    flowset, problems = gather_flows(paths)
    if problems:
        raise SourceError(problems)
    return flowset
