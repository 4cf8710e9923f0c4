"""`hotline flows simulate` answers a knowledge node from the article files."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from hotline.flows.cli import run

ROOT = Path(__file__).resolve().parents[3]
#: The demo chat flow up to its knowledge node, in English.
TO_THE_QUESTION = ["1", "type:I have a question"]


def simulate(knowledge: Path, *inputs: str) -> tuple[int, str]:
    out = io.StringIO()
    argv = [
        "flows",
        "--flows-dir",
        str(ROOT / "ivr_flows"),
        "--catalogue",
        str(ROOT / "sounds/catalogue.yaml"),
        "--knowledge-dir",
        str(knowledge),
        "simulate",
        "chat",
        "--hours",
        "open",
    ]
    for given in inputs:
        argv += ["-i", given]
    code = run(argv, out)
    return code, out.getvalue()


def test_a_question_answered_from_the_articles() -> None:
    code, text = simulate(
        ROOT / "knowledge", *TO_THE_QUESTION, "type:how do I pay my bill", "1", "hangup"
    )
    assert code == 0, text
    assert "answer: pay-bill (1)" in text
    assert "kb_article = 'pay-bill'" in text
    assert text.rstrip().endswith("outcome: hangup")


def test_a_refused_article_is_named_and_the_rest_searched(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "knowledge", tmp_path / "k")
    (tmp_path / "k" / "bad.yaml").write_text("title: {en: x, ru: y}\nanswr: {en: x}\n")
    code, text = simulate(tmp_path / "k", *TO_THE_QUESTION, "type:roaming abroad", "1", "hangup")
    assert code == 0, text
    bad = tmp_path / "k" / "bad.yaml"
    assert f"knowledge: refused {bad}:2:1: answr: unknown field" in text.splitlines()
    assert "answer: roaming (" in text


def test_without_articles_the_node_fails_as_configured(tmp_path: Path) -> None:
    code, text = simulate(tmp_path / "none", *TO_THE_QUESTION, "type:pay my bill", "hangup")
    assert code == 1
    assert "error at ask_question: no knowledge base: knowledge nodes cannot answer" in text
