"""A node's routes are made once (flow model): still right after a field is assigned,
and an `on` model cannot be changed under them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hotline.flows.loader import parse_flow

FLOW = """
name: routes
start: menu
nodes:
  menu:
    type: menu
    prompt: welcome
    options:
      "1": queue
    on:
      exhausted: end
  queue:
    type: queue
    queue: sales
    on:
      answered: end
      other: menu
  end:
    type: hangup
"""


def test_routes_follow_fallbacks_and_other_and_change_with_an_assigned_field() -> None:
    flow = parse_flow(FLOW).flow
    menu, queue = flow.nodes["menu"], flow.nodes["queue"]
    assert menu.route("1") == "queue"
    assert menu.route("exhausted") == "end"
    assert menu.route("error") is None
    assert queue.route("answered") == "end"
    assert queue.route("timeout") == "menu"  # `other`
    assert queue.route("answered") == "end"  # the same again, from the made routes
    menu.options = {"1": "end"}  # type: ignore[attr-defined]
    assert menu.route("1") == "end"
    assert menu.targets() == {"1": "end", "exhausted": "end"}


def test_an_on_model_is_frozen() -> None:
    queue = parse_flow(FLOW).flow.nodes["queue"]
    assert queue.route("answered") == "end"
    with pytest.raises(ValidationError, match="frozen"):
        queue.on.answered = "menu"  # type: ignore[attr-defined]
    assert queue.route("answered") == "end"
