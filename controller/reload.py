"""Flows that change while Hotline runs: check, keep every version, swap atomically.

`hotline run` polls the flows folder's files once a second (mtime and size; no new
dependency). On a change it loads and lints the whole set exactly as at start-up.
A clean set is archived and handed to `apply`, which swaps it in with one attribute
assignment: calls that start afterwards get it, a call in progress keeps the set it
started with. A broken set is refused with the lint errors and the last good set
stays live. Log lines start with `flows.reloaded` / `flows.refused` so they are easy
to find.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hotline.catalogue import Catalogue
from hotline.config import HotlineConfig
from hotline.flows.lint import Known, lint_flowset
from hotline.flows.loader import FlowSet, flow_files, load_flows
from hotline.flows.model import FILES_DIR
from hotline.yamlsource import SourceError

log = logging.getLogger(__name__)

#: How often the flows folder is looked at, in seconds.
POLL_INTERVAL = 1.0


class FlowsRefused(Exception):
    """The flows do not load or do not pass the linter; `problems` says where and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def known_from(config: HotlineConfig) -> Known:
    """The names flows may refer to, from the config."""
    return Known(
        queues=set(config.queues),
        schedules=set(config.schedules),
        integrations=set(config.integrations),
        languages=config.languages,
        speech_languages=set(config.speech.models),
        voice_flows=set(config.flow_numbers.values()),
        chat_flows={config.chat.flow, *config.chat.entries.values()}
        if config.chat.enabled
        else None,
        attachment_bytes=config.chat.max_attachment_bytes,
        attachment_types=list(config.chat.attachment_types),
    )


@dataclass(frozen=True)
class FlowChecker:
    """Loads a flows folder and lints it against the catalogue and the config."""

    flows_dir: Path
    catalogue_file: Path
    known: Known
    #: Flow names the config's numbers send calls to: they must stay loadable.
    required: frozenset[str] = frozenset()
    #: Named in the message when a required flow is missing.
    config_file: Path | None = None

    def load(self) -> tuple[FlowSet, list[str]]:
        """The checked flows and the linter's warnings; FlowsRefused on any error."""
        if not self.flows_dir.is_dir():
            raise FlowsRefused([f"{self.flows_dir}: the flows folder does not exist"])
        try:
            flows = load_flows(self.flows_dir)
            catalogue = Catalogue.load(self.catalogue_file)
        except SourceError as error:
            raise FlowsRefused([str(p) for p in error.problems]) from None
        problems = lint_flowset(flows, catalogue=catalogue, known=self.known)
        errors = [str(p) for p in problems if p.severity == "error"]
        missing = sorted(self.required - set(flows.names()))
        if missing:
            errors.append(
                f"{self.config_file or 'config'}: numbers: no flow named {', '.join(missing)} "
                f"in {self.flows_dir} (flows there: {', '.join(flows.names()) or 'none'})"
            )
        if errors:
            raise FlowsRefused(errors)
        return flows, [str(p) for p in problems if p.severity != "error"]


def set_version(flows: FlowSet) -> str:
    """One id for a whole flow set: which exact files were live together."""
    digest = hashlib.sha256()
    for name in flows.names():
        digest.update(f"{name}={flows[name].version};".encode())
    return digest.hexdigest()[:12]


def describe(flows: FlowSet) -> str:
    return " ".join(f"{name}@{flows[name].version}" for name in flows.names())


@dataclass(frozen=True)
class FlowArchive:
    """Every flow version ever loaded, as `<folder>/<flow name>/<version>.yaml`.

    The version is the file's content hash, the one logged on each contact
    (`flow_version`), so the exact text a call ran can always be found."""

    folder: Path

    def keep(self, flows: FlowSet) -> list[Path]:
        """Archive the set's files; returns the files newly written."""
        written = []
        for loaded in flows:
            target = self.folder / loaded.name / f"{loaded.version}.yaml"
            if target.exists():
                continue
            try:
                raw = loaded.path.read_bytes()
            except OSError as error:
                log.warning("flow %s: cannot archive %s: %s", loaded.name, loaded.path, error)
                continue
            if hashlib.sha256(raw).hexdigest()[:12] != loaded.version:
                # Edited again since it was loaded: the next poll loads (and keeps) that.
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(raw)
            tmp.replace(target)
            written.append(target)
        return written

    def path(self, name: str, version: str) -> Path:
        return self.folder / name / f"{version}.yaml"


Snapshot = dict[str, tuple[int, int]]


def snapshot(folder: Path) -> Snapshot:
    """What a change looks like: each flow file's (and flow's file's) modification
    time and size."""
    try:
        files = flow_files(folder)
    except OSError:
        return {}
    state: Snapshot = {}
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue  # removed between the listing and the stat: the next poll sees it
        state[path.name] = (stat.st_mtime_ns, stat.st_size)
    # The files flows send (`file:` prompts) are linted with the flows: a change there
    # (a missing file put back, a file grown over the limit) is checked again too.
    with contextlib.suppress(OSError):
        for path in sorted((folder / FILES_DIR).rglob("*")):
            with contextlib.suppress(OSError):
                if path.is_file():
                    stat = path.stat()
                    key = f"{FILES_DIR}/{path.relative_to(folder / FILES_DIR)}"
                    state[key] = (stat.st_mtime_ns, stat.st_size)
    return state


class FlowWatcher:
    """Polls the flows folder and swaps in each clean version (see the module doc)."""

    def __init__(
        self,
        checker: FlowChecker,
        archive: FlowArchive,
        apply: Callable[[FlowSet], None],
        *,
        interval: float = POLL_INTERVAL,
    ) -> None:
        self.checker = checker
        self.archive = archive
        self.apply = apply
        self.interval = interval
        self._seen = snapshot(checker.flows_dir)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.poll()

    async def poll(self) -> bool:
        """Look once; True when a new set went live."""
        current = await asyncio.to_thread(snapshot, self.checker.flows_dir)
        if current == self._seen:
            return False
        self._seen = current
        try:
            flows, warnings = await asyncio.to_thread(self.checker.load)
        except FlowsRefused as refused:
            log.warning(
                "flows.refused: %s has errors; the last good flows stay live:\n%s",
                self.checker.flows_dir,
                "\n".join(refused.problems),
            )
            return False
        await asyncio.to_thread(self.archive.keep, flows)
        for warning in warnings:
            log.warning("%s", warning)
        self.apply(flows)
        log.info("flows.reloaded: set %s: %s", set_version(flows), describe(flows))
        return True
