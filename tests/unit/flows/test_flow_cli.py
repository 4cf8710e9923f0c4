import io
import json
from pathlib import Path

from hotline.flows.cli import run

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parent / "fixtures"
BASE = [
    "flows",
    "--flows-dir",
    str(ROOT / "ivr_flows"),
    "--catalogue",
    str(ROOT / "sounds/catalogue.yaml"),
]


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = run([*BASE, *args], out)
    return code, out.getvalue()


def test_lint_clean_and_failing():
    assert cli("lint", "--queue", "support") == (0, "0 error(s), 0 warning(s)\n")
    code, text = cli("lint", "--json", str(FIXTURES / "lint" / "no-end.yaml"))
    assert code == 1 and json.loads(text)[0]["rule"] == "no-end"


def test_simulate(tmp_path: Path):
    code, text = cli("simulate", "main", "-i", "1", "-i", "2", "--queue-outcome", "closed")
    assert code == 0
    assert "to_agent" in text and "closed -> agents_unavailable" in text
    assert cli("simulate", "nope")[0] == 2
    assert cli("simulate", "main", "-i", "x")[0] == 2


def test_graph_schema_coverage(tmp_path: Path):
    assert cli("graph", "main", "-o", str(tmp_path / "main.dot"))[0] == 0
    assert (tmp_path / "main.dot").read_text().startswith('digraph "main"')
    assert cli("schema", "--check")[0] == 0
    assert cli("schema", "-o", str(tmp_path / "s.json"))[0] == 0
    code, text = cli("coverage")
    assert code == 0 and "main: nodes 10/10" in text
