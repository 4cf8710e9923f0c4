from pathlib import Path

import pytest

from hotline.flows.loader import load_flow, load_flows
from hotline.yamlsource import SourceError

FLOW = "name: {name}\nstart: a\nnodes:\n  a: {{type: hangup}}\n"


def test_loads_a_folder_with_versions(tmp_path: Path):
    (tmp_path / "one.yaml").write_text(FLOW.format(name="one"))
    (tmp_path / "two.yml").write_text(FLOW.format(name="two"))
    (tmp_path / "notes.txt").write_text("not a flow")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.yaml").write_text("flow: one\n")
    flowset = load_flows(tmp_path)
    assert flowset.names() == ["one", "two"]
    assert len(flowset["one"].version) == 12
    assert flowset["one"].version != flowset["two"].version
    assert load_flow(tmp_path / "one.yaml").version == flowset["one"].version


def test_reports_problems_of_every_file_and_duplicate_names(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(FLOW.format(name="same"))
    (tmp_path / "b.yaml").write_text(FLOW.format(name="same"))
    (tmp_path / "c.yaml").write_text("name: c\nstart: a\nnodes: {a: {type: play}}\n")
    (tmp_path / "d.yaml").write_text("- just a list\n")
    with pytest.raises(SourceError) as caught:
        load_flows(tmp_path)
    text = str(caught.value)
    assert "b.yaml:1:7: name: flow 'same' is also in" in text
    assert "c.yaml:3:12: nodes.a: missing required field 'prompts'" in text
    assert "d.yaml:1:1: expected a mapping" in text


def test_shipped_flows_load():
    flowset = load_flows(Path(__file__).resolve().parents[3] / "ivr_flows")
    assert "main" in flowset
    assert flowset["main"].flow.start == "greeting"
