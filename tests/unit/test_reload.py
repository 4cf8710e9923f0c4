"""Hot reload: a clean edit is swapped in and archived, a broken one refused with the
lint errors while the last good set stays, and the config's names are checked."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from controller.reload import (
    FlowArchive,
    FlowChecker,
    FlowsRefused,
    FlowWatcher,
    known_from,
    set_version,
    snapshot,
)
from hotline.config import HotlineConfig
from hotline.flows.loader import FlowSet

HOME = Path(__file__).resolve().parents[2]
CATALOGUE = HOME / "sounds/catalogue.yaml"
FLOW = """name: probe
start: say
nodes:
  say: {{type: play, prompts: {prompt}, next: end}}
  end: {{type: hangup}}
"""


def config(**extra: object) -> HotlineConfig:
    return HotlineConfig.model_validate({"numbers": {"100": "probe"}, **extra})


def checker(folder: Path, **extra: object) -> FlowChecker:
    cfg = config(**extra)
    return FlowChecker(folder, CATALOGUE, known_from(cfg), frozenset(cfg.flow_numbers.values()))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "probe.yaml").write_text(FLOW.format(prompt="welcome"))
    return flows


def test_checker_loads_a_clean_folder(folder: Path) -> None:
    flows, warnings = checker(folder).load()
    assert flows.names() == ["probe"] and warnings == []


def test_checker_refuses_unknown_names_from_the_config(folder: Path) -> None:
    (folder / "hours.yaml").write_text(
        "name: hours\nstart: h\nnodes:\n"
        "  h: {type: hours, schedule: office, on: {open: end, closed: end}}\n"
        "  end: {type: hangup}\n"
    )
    with pytest.raises(FlowsRefused) as refused:
        checker(folder).load()
    assert "schedule-unknown" in str(refused.value) and "office" in str(refused.value)
    flows, _ = checker(folder, schedules={"office": {"timezone": "UTC"}}).load()
    assert "hours" in flows


def test_checker_refuses_a_missing_numbered_flow_and_a_missing_folder(folder: Path) -> None:
    (folder / "probe.yaml").unlink()
    (folder / "other.yaml").write_text(FLOW.format(prompt="welcome").replace("probe", "other"))
    with pytest.raises(FlowsRefused, match=r"no flow named probe .*flows there: other"):
        checker(folder).load()
    with pytest.raises(FlowsRefused, match="the flows folder does not exist"):
        checker(folder / "nope").load()


def test_known_names_come_from_the_config() -> None:
    known = known_from(
        config(integrations={"crm": {"url": "http://x"}}, queues={"support": {}, "sales": {}})
    )
    assert known.queues == {"support", "sales"}
    assert known.integrations == {"crm"} and known.schedules == set()


def test_archive_keeps_each_version_once(folder: Path, tmp_path: Path) -> None:
    archive = FlowArchive(tmp_path / "versions")
    flows, _ = checker(folder).load()
    (written,) = archive.keep(flows)
    assert written == archive.path("probe", flows["probe"].version)
    assert written.read_text() == FLOW.format(prompt="welcome")
    assert archive.keep(flows) == []


def test_archive_skips_a_file_edited_since_it_was_loaded(folder: Path, tmp_path: Path) -> None:
    flows, _ = checker(folder).load()
    (folder / "probe.yaml").write_text(FLOW.format(prompt="goodbye"))
    assert FlowArchive(tmp_path / "versions").keep(flows) == []


async def test_watcher_swaps_clean_edits_and_refuses_broken_ones(
    folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live: list[FlowSet] = []
    archive = FlowArchive(tmp_path / "versions")
    watcher = FlowWatcher(checker(folder), archive, live.append, interval=0.01)
    assert await watcher.poll() is False  # nothing changed yet

    (folder / "probe.yaml").write_text(FLOW.format(prompt="goodbye"))
    caplog.set_level(logging.INFO)
    assert await watcher.poll() is True
    (flows,) = live
    assert "flows.reloaded" in caplog.text and set_version(flows) in caplog.text
    assert archive.path("probe", flows["probe"].version).exists()

    (folder / "probe.yaml").write_text(
        FLOW.format(prompt="goodbye").replace("next: end", "next: x")
    )
    assert await watcher.poll() is False
    assert len(live) == 1
    assert "flows.refused" in caplog.text and "target-missing" in caplog.text

    (folder / "probe.yaml").write_text("name: probe\nstart: [\n")
    assert await watcher.poll() is False
    assert "YAML" in caplog.text or "yaml" in caplog.text

    shutil.rmtree(folder)
    assert await watcher.poll() is False
    assert "does not exist" in caplog.text
    assert snapshot(folder) == {}
