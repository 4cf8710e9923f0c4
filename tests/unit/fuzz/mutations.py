"""Hypothesis strategies that mutate a valid YAML document into nearly-valid ones.

Random text alone rarely gets past the YAML parser; a real flow or config with a few
keys dropped, renamed or given values of the wrong kind reaches every validator."""

from __future__ import annotations

import copy
import os
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Examples per fuzz test; raise it for a longer run (HOTLINE_FUZZ_EXAMPLES=5000).
EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "150"))
#: `make test` replays the same examples every run (no flaky failures); a longer run
#: (HOTLINE_FUZZ_EXAMPLES set) explores new ones each time.
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize="HOTLINE_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "0", "-1", "1e9", "next", "end", "*", "#", "../x", "{{ x }}", "\x00"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `doc` (mapping keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += paths(value, (*prefix, index))
    return found


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Any]) -> Any:
    """One of `seeds`, deep-copied, with one to four mutations applied."""
    doc = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        where = paths(doc)
        if not where:
            return draw(values)
        path = draw(st.sampled_from(where))
        parent, last = _parent(doc, path), path[-1]
        action = draw(st.sampled_from(["replace", "delete", "rename", "add", "copy"]))
        if action == "replace":
            parent[last] = draw(values)
        elif action == "delete":
            del parent[last]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = parent.pop(last)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(values)
        elif action == "copy":
            other = draw(st.sampled_from(where))
            parent[last] = copy.deepcopy(_parent(doc, other)[other[-1]])
    return doc


def dump(doc: Any) -> str:
    """YAML text for `doc` (keys of any type, as a hand-written file might have)."""
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
