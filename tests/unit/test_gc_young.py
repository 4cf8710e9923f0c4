"""The controller's young-generation GC thresholds (controller/gc_young.py)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from controller import gc_young
from controller.cli import main


def test_tune_sets_the_thresholds_and_restore_puts_back_the_ones_before() -> None:
    before = gc.get_threshold()
    replaced = gc_young.tune()
    try:
        assert replaced == before
        assert gc.get_threshold() == (gc_young.YOUNG, gc_young.MIDDLE, gc_young.OLD)
        assert gc_young.YOUNG > 700  # fewer young collections than CPython's default
    finally:
        gc_young.restore(replaced)
    assert gc.get_threshold() == before


@pytest.mark.parametrize("bad", [(0, 10, 10), (700, 0, 10), (700, 10, -1)])
def test_a_threshold_below_one_is_refused_and_nothing_changes(bad: tuple[int, int, int]) -> None:
    # 0 would switch automatic collection off altogether: never wanted here.
    before = gc.get_threshold()
    with pytest.raises(ValueError, match=r"gc thresholds must be >= 1, got \("):
        gc_young.tune(*bad)
    assert gc.get_threshold() == before


def test_the_environment_may_choose_the_young_threshold() -> None:
    assert gc_young.young_from({}) == gc_young.YOUNG
    assert gc_young.young_from({"HOTLINE_GC_YOUNG": ""}) == gc_young.YOUNG
    assert gc_young.young_from({"HOTLINE_GC_YOUNG": " 700 "}) == 700


@pytest.mark.parametrize("text", ["0", "-5", "many", "1.5"])
def test_a_bad_young_threshold_in_the_environment_is_refused_by_name(text: str) -> None:
    before = gc.get_threshold()
    with pytest.raises(ValueError) as refused:
        gc_young.young_from({"HOTLINE_GC_YOUNG": text})
    assert str(refused.value) == (
        f"HOTLINE_GC_YOUNG={text!r}: expected a whole number >= 1 (or unset)"
    )
    assert gc.get_threshold() == before


def test_hotline_run_refuses_a_bad_young_threshold_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOTLINE_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("HOTLINE_GC_YOUNG", "lots")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "bye.yaml").write_text(
        "name: bye\ndescription: hangs up\nstart: end\nnodes:\n  end:\n    type: hangup\n"
    )
    config = tmp_path / "hotline.yaml"
    config.write_text(f'numbers: {{"100": bye}}\nflows_dir: {flows}\n')
    before = gc.get_threshold()
    code = main(["--config", str(config), "run"])
    assert code != 0
    err = capsys.readouterr().err
    assert "HOTLINE_GC_YOUNG='lots': expected a whole number >= 1 (or unset)" in err
    assert gc.get_threshold() == before
    assert not (tmp_path / "state" / "asterisk").exists()  # no Asterisk was started
