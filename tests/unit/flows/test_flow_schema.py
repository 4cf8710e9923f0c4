from pathlib import Path

from hotline.flows.loader import flow_files
from hotline.flows.schema import SCHEMA_FILE, flow_schema, schema_text, write_schema

FLOWS = Path(__file__).resolve().parents[3] / "ivr_flows"


def test_committed_schema_is_up_to_date():
    # If this fails: `hotline flows schema` (or write_schema) and commit the file.
    assert (FLOWS / SCHEMA_FILE).read_text(encoding="utf-8") == schema_text()


def test_schema_covers_every_node_type():
    schema = flow_schema()
    tags = {
        definition["properties"]["type"]["const"]
        for definition in schema["$defs"].values()
        if "const" in definition.get("properties", {}).get("type", {})
    }
    assert {"play", "menu", "collect", "http", "queue", "survey", "hangup", "return"} <= tags
    assert schema["additionalProperties"] is False


def test_write_schema_reports_changes(tmp_path: Path):
    path = tmp_path / SCHEMA_FILE
    assert write_schema(path) is True
    assert write_schema(path) is False


def test_flows_point_editors_at_the_schema():
    for path in flow_files(FLOWS):
        assert path.read_text().startswith("# yaml-language-server: $schema=flow.schema.json\n")
