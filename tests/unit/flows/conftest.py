from collections.abc import Callable
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from hotline.catalogue import Catalogue
from hotline.flows.loader import FlowSet, parse_flow

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def make_flows() -> Callable[..., FlowSet]:
    """Build a FlowSet from YAML texts (dedented)."""

    def make(*texts: str) -> FlowSet:
        return FlowSet.of(*(parse_flow(dedent(t), f"flow{i}.yaml") for i, t in enumerate(texts)))

    return make


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue.load(ROOT / "sounds" / "catalogue.yaml")


class Events(list[tuple[str, dict[str, Any]]]):
    """Collects emitted events; `of(type)` filters them."""

    async def __call__(self, type: str, data: dict[str, Any]) -> None:
        self.append((type, data))

    def of(self, type: str) -> list[dict[str, Any]]:
        return [data for kind, data in self if kind == type]


@pytest.fixture
def events() -> Events:
    return Events()
