"""Every YAML file Hotline reads refuses a billion laughs at once, naming file and line,
and nothing running changes: flows (hot reload keeps the last good set), the config,
the prompt catalogue, the secrets and the web passwords."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from controller.cli import EXIT_CONFIG, main
from controller.reload import FlowArchive, FlowChecker, FlowWatcher, known_from
from controller.secrets import load_secrets
from hotline.catalogue import Catalogue
from hotline.config import HotlineConfig
from hotline.flows.loader import FlowSet
from hotline.web.auth import PasswordFile
from hotline.yamlsource import SourceError

HOME = Path(__file__).resolve().parents[2]
CATALOGUE = HOME / "sounds/catalogue.yaml"
FLOW = """name: probe
start: say
nodes:
  say: {type: play, prompts: welcome, next: end}
  end: {type: hangup}
"""
REFUSED = "YAML: aliases expand the document by more than"


def bomb(head: str = "") -> str:
    """`head`, then nine levels of ten aliases each: 10**9 values in a few hundred bytes;
    the aliases cross the limit on the fifth of those lines."""
    lines = ["lol0: &lol0 [" + ", ".join(["lol"] * 10) + "]"]
    for level in range(1, 9):
        lines.append(f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * 10) + "]")
    return head + "\n".join(lines) + "\n"


def refused_line(head: str = "") -> int:
    return head.count("\n") + 5


async def test_a_hot_reloaded_bomb_is_refused_and_the_last_good_flows_stay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    flow = folder / "probe.yaml"
    flow.write_text(FLOW)
    config = HotlineConfig.model_validate({"numbers": {"100": "probe"}})
    checker = FlowChecker(folder, CATALOGUE, known_from(config), frozenset({"probe"}))
    live: list[FlowSet] = []
    watcher = FlowWatcher(checker, FlowArchive(tmp_path / "versions"), live.append)
    caplog.set_level(logging.INFO)

    flow.write_text(bomb(FLOW))
    started = time.perf_counter()
    assert await watcher.poll() is False
    assert time.perf_counter() - started < 1
    assert live == []  # nothing swapped in: the flows loaded at start stay live
    assert "flows.refused" in caplog.text
    assert f"{flow}:{refused_line(FLOW)}:" in caplog.text and REFUSED in caplog.text


def test_config_check_refuses_a_bomb_in_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTLINE_STATE", str(tmp_path / "state"))
    head = 'numbers: {"100": main}\n'
    path = tmp_path / "hotline.yaml"
    path.write_text(bomb(head))
    started = time.perf_counter()
    assert main(["--config", str(path), "config", "check"]) == EXIT_CONFIG
    assert time.perf_counter() - started < 1
    err = capsys.readouterr().err
    assert f"config refused:\n{path}:{refused_line(head)}:" in err and REFUSED in err
    assert not (tmp_path / "state").exists()


def test_the_catalogue_refuses_a_bomb(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(bomb("languages: [en]\n"))
    with pytest.raises(SourceError, match=f"^{path}:6:.*{REFUSED}"):
        Catalogue.load(path)


def test_secrets_and_passwords_refuse_a_bomb_and_stay_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets, passwords = tmp_path / "secrets.yaml", tmp_path / "passwords.yaml"
    for path in (secrets, passwords):
        path.write_text(bomb())
    with pytest.raises(SourceError, match=f"^{secrets}:5:.*{REFUSED}"):
        load_secrets(secrets, ["2001"])
    with pytest.raises(SourceError, match=f"^{passwords}:5:.*{REFUSED}"):
        PasswordFile(passwords).load()
    # `hotline users passwd` says so, as any refused file, instead of a traceback.
    monkeypatch.setenv("HOTLINE_STATE", str(tmp_path))
    assert main(["users", "passwd", "alice"]) == EXIT_CONFIG
    assert f"hotline: {passwords}:5:" in capsys.readouterr().err
    assert secrets.read_text() == passwords.read_text() == bomb()
