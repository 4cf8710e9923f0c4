"""The JSON Schema of flow files, generated from the pydantic models.

Editors use it through the first line of each flow:
`# yaml-language-server: $schema=flow.schema.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hotline.flows.model import Flow

SCHEMA_FILE = "flow.schema.json"


def flow_schema() -> dict[str, Any]:
    """The schema as a dict (draft 2020-12, as pydantic writes it)."""
    schema = Flow.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    return json.dumps(flow_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_schema(path: str | Path) -> bool:
    """Write the schema file; True if it changed."""
    path = Path(path)
    text = schema_text()
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
