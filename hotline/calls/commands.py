"""Call-control commands and their validation (the REST body of
`POST /api/calls/{contact_id}/{action}`).

- `hold`, `resume`: the customer on hold (the queue's music) and back;
- `transfer` `{"to": ..., "note": ...}`: blind transfer; the agent goes to wrap-up;
- `consult` `{"to": ..., "note": ...}`: the customer on hold, the agent calls the target;
- `complete`: the consulted party takes the customer, the agent leaves;
- `conference`: customer, agent and consulted party all talk;
- `cancel`: the consultation ends, the agent is back with the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from hotline.calls.errors import BadCommand
from hotline.calls.targets import Target, parse_target

Action = Literal["hold", "resume", "transfer", "consult", "complete", "conference", "cancel"]
ACTIONS: tuple[Action, ...] = get_args(Action)

#: Actions that take a target.
WITH_TARGET = frozenset({"transfer", "consult"})

#: The longest note that goes with a transfer.
NOTE_LIMIT = 2000


@dataclass(frozen=True)
class Command:
    action: Action
    target: Target | None = None
    note: str = ""


def _action(name: str) -> Action:
    for action in ACTIONS:
        if action == name:
            return action
    raise BadCommand(f"unknown action {name!r}; expected one of {', '.join(ACTIONS)}")


def parse_command(action: str, body: object) -> Command:
    """The command for `action` with its JSON `body` (None: no body); BadCommand with a
    clear text for anything else."""
    act = _action(action)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadCommand("the body must be a JSON object")
    if act not in WITH_TARGET:
        extra = sorted(str(k) for k in body)
        if extra:
            raise BadCommand(f"{act} takes no fields (got {', '.join(extra)})")
        return Command(act)
    unknown = sorted(str(k) for k in body if k not in ("to", "note"))
    if unknown:
        raise BadCommand(f"{act} takes 'to' and 'note' (unknown: {', '.join(unknown)})")
    if "to" not in body:
        raise BadCommand(f'{act} needs "to": "agent:<id>", "queue:<name>" or "number:<digits>"')
    target = parse_target(body["to"])
    note = body.get("note", "")
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise BadCommand('"note" must be a text')
    if len(note) > NOTE_LIMIT:
        raise BadCommand(f'"note" is {len(note)} characters long; at most {NOTE_LIMIT}')
    return Command(act, target, note.strip())
