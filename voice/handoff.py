"""The Stasis arguments a FastAGI flow's `queue` node hands a channel over with:
`queue,<queue>,<contact id>,<language>,<priority>,<skills>,<max wait>`.

Skills are `name=level` joined by `+` ("-" for none), max wait is seconds ("-" for the
queue's own): nothing in them can contain the comma that separates Stasis arguments."""

from __future__ import annotations

from hotline.flows.services import QueueRequest

#: The channel variable the ARI side returns a queue hand-off's outcome in.
QUEUE_OUTCOME_VARIABLE = "HOTLINE_QUEUE_OUTCOME"


class BadHandoff(ValueError):
    """The arguments do not describe a queue hand-off."""


def encode(request: QueueRequest, contact_id: str) -> list[str]:
    skills = "+".join(f"{name}={level}" for name, level in sorted(request.skills.items()))
    wait = "-" if request.max_wait is None else f"{request.max_wait:g}"
    return [
        request.queue,
        contact_id,
        request.language,
        str(request.priority),
        skills or "-",
        wait,
    ]


def decode(args: list[str]) -> tuple[QueueRequest, str]:
    """(request, contact id) from the arguments after "queue"."""
    if len(args) != 6:
        raise BadHandoff(
            f"expected queue,contact,language,priority,skills,max_wait; got {','.join(args)!r}"
        )
    queue, contact_id, language, priority, skills, wait = args
    try:
        levels = {}
        if skills != "-":
            for pair in skills.split("+"):
                name, level = pair.split("=", 1)
                levels[name] = int(level)
        request = QueueRequest(
            queue=queue,
            priority=int(priority),
            skills=levels,
            max_wait=None if wait == "-" else float(wait),
            language=language,
            variables={},
        )
    except ValueError as error:
        raise BadHandoff(f"bad queue hand-off {','.join(args)!r}: {error}") from None
    return request, contact_id
