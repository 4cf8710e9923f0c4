"""`hotline run` refuses a broken config or flow: file, line, field, and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.cli import EXIT_CONFIG, main

HOME = Path(__file__).resolve().parents[2]
GOOD_FLOW = (HOME / "ivr_flows/main.yaml").read_text()
CONFIG = 'numbers: {"100": main}\nlanguages: [en, ru]\n'


def run(tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "hotline.yaml"
    path.write_text(config)
    code = main(["--config", str(path), "run"])
    return code, capsys.readouterr().err


def flows_dir(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "main.yaml").write_text(text)
    return folder


@pytest.fixture(autouse=True)
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTLINE_STATE", str(tmp_path / "state"))


def test_broken_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(tmp_path, 'numbers: {"100": main}\nweb:\n  port: http\n', capsys)
    assert code == EXIT_CONFIG
    assert f"{tmp_path / 'hotline.yaml'}:3:9: web.port:" in err
    assert "integer" in err
    assert not (tmp_path / "state").exists()  # nothing was started or written


def test_number_without_flow_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(tmp_path, 'numbers: {"100": nosuchflow}\nlanguages: [en, ru]\n', capsys)
    assert code == EXIT_CONFIG
    assert "numbers" in err and "nosuchflow" in err
    assert "flows there:" in err and "main" in err


def test_broken_flow_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = GOOD_FLOW.replace("type: menu", "type: menuu", 1)
    folder = flows_dir(tmp_path, broken)
    code, err = run(tmp_path, f"{CONFIG}flows_dir: {folder}\n", capsys)
    assert code == EXIT_CONFIG
    line = broken.splitlines().index("    type: menuu") + 1
    assert f"{folder / 'main.yaml'}:{line}:" in err
    assert "menuu" in err


def test_flow_failing_lint_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A menu option pointing nowhere loads fine but cannot run: the linter refuses it.
    broken = GOOD_FLOW.replace('"1": hours_info', '"1": nowhere', 1)
    folder = flows_dir(tmp_path, broken)
    code, err = run(tmp_path, f"{CONFIG}flows_dir: {folder}\n", capsys)
    assert code == EXIT_CONFIG
    line = broken.splitlines().index('      "1": nowhere') + 1
    assert f"{folder / 'main.yaml'}:{line}:" in err
    assert "target-missing" in err and "nowhere" in err


def test_broken_evaluation_form_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forms = tmp_path / "evaluations"
    forms.mkdir()
    good = (HOME / "config/evaluations/call_quality.yaml").read_text()
    broken = good.replace("type: scale", "type: stars", 1)
    (forms / "call_quality.yaml").write_text(broken)
    # the shipped config (its flows load), the forms from elsewhere
    shipped = (HOME / "config/hotline.yaml").read_text()
    code, err = run(tmp_path, f"{shipped}\nevaluations_dir: {forms}\n", capsys)
    assert code == EXIT_CONFIG
    line = broken.splitlines().index("        type: stars") + 1
    assert "evaluation forms refused" in err
    assert f"{forms / 'call_quality.yaml'}:{line}:" in err and "stars" in err
    assert not (tmp_path / "state").exists()
