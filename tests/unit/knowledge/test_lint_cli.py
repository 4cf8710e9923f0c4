"""`hotline flows lint` lints the knowledge base's articles with the flows."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from hotline.flows.cli import run

ROOT = Path(__file__).resolve().parents[3]


def lint(knowledge: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = run(
        [
            "flows",
            "--flows-dir",
            str(ROOT / "ivr_flows"),
            "--catalogue",
            str(ROOT / "sounds/catalogue.yaml"),
            "--knowledge-dir",
            str(knowledge),
            "lint",
            "--queue",
            "support",
        ],
        out,
    )
    return code, out.getvalue()


def test_shipped_articles_pass() -> None:
    assert lint(ROOT / "knowledge") == (0, "0 error(s), 0 warning(s)\n")


def test_an_article_with_problems_fails_the_lint(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "knowledge", tmp_path / "k")
    (tmp_path / "k" / "bad.yaml").write_text("title: {en: x, ru: y}\nanswr: {en: x}\n")
    code, text = lint(tmp_path / "k")
    bad = str(tmp_path / "k" / "bad.yaml")
    assert code == 1
    assert text.splitlines() == [
        f"{bad}:1:1: error [knowledge] missing required field 'answer'",
        f"{bad}:1:1: error [knowledge] missing required field 'questions'",
        f"{bad}:2:1: error [knowledge] answr: unknown field",
        "3 error(s), 0 warning(s)",
    ]
