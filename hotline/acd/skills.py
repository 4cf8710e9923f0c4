"""Skill requirements: which relaxation step is in force, and who meets it."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence

from hotline.acd.model import SkillStep

#: A requirement in hashable form: sorted (skill, minimum level) pairs.
Requirement = tuple[tuple[str, int], ...]


def step_index(steps: Sequence[SkillStep], waited: float) -> int:
    """The step in force after `waited` seconds: the last one whose `after` passed, or -1."""
    return bisect_right([s.after for s in steps], waited) - 1


def next_step_at(steps: Sequence[SkillStep], index: int, entered_at: float) -> float | None:
    """When the step after `index` takes over, for a contact that entered at `entered_at`."""
    if index + 1 < len(steps):
        return entered_at + steps[index + 1].after
    return None


def requirement(
    steps: Sequence[SkillStep], index: int, contact_skills: Mapping[str, int]
) -> Requirement:
    """The queue step's levels merged with the contact's own; the higher level wins."""
    merged = dict(steps[index].require) if index >= 0 else {}
    for skill, level in contact_skills.items():
        merged[skill] = max(level, merged.get(skill, 0))
    # A level of 0 asks for nothing: drop it so {x: 0} and {} share one class.
    return tuple(sorted((s, lvl) for s, lvl in merged.items() if lvl > 0))


def meets(skills: Mapping[str, int], req: Requirement) -> bool:
    return all(skills.get(skill, 0) >= level for skill, level in req)


def proficiency(skills: Mapping[str, int], req: Requirement) -> int:
    """Total proficiency in the required skills (for best-skilled selection)."""
    return sum(skills.get(skill, 0) for skill, _ in req)


def describe(req: Requirement) -> str:
    return ", ".join(f"{s}>={lvl}" for s, lvl in req) or "none"
