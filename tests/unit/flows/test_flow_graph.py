import shutil

import pytest

from hotline.flows.graph import to_dot, to_svg


def test_dot_has_shapes_and_outcome_labels(make_flows):
    flow = make_flows(
        """
        name: t
        start: m
        nodes:
          m: {type: menu, prompt: p, options: {"1": q}, on: {exhausted: bye, error: bye}}
          q: {type: queue, queue: support, on: {other: bye}}
          bye: {type: hangup}
        """
    )["t"].flow
    dot = to_dot(flow)
    assert '"__start" -> "m";' in dot
    assert '"m" [shape=diamond' in dot
    assert '"q" [shape=cylinder' in dot and "(queue: support)" in dot
    assert '"m" -> "q" [label="1"];' in dot
    assert '"m" -> "bye" [label="exhausted, error"];' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
def test_svg(make_flows):
    flow = make_flows("name: t\nstart: a\nnodes:\n  a: {type: hangup}\n")["t"].flow
    assert b"<svg" in to_svg(flow)


def test_missing_dot_is_a_clear_error(make_flows):
    flow = make_flows("name: t\nstart: a\nnodes:\n  a: {type: hangup}\n")["t"].flow
    with pytest.raises(RuntimeError, match="cannot run Graphviz"):
        to_svg(flow, dot="/nonexistent/dot")
