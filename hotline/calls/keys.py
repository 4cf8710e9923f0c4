"""Feature codes an agent presses on their phone while talking (DTMF), so a desk phone
without the desk does what the desk's buttons do:

- `*1` puts the caller on hold, or resumes a call on hold;
- `*2<number>#` transfers the caller (blind) to that number; the voice adapter reads
  a colleague's phone extension as that colleague (`*21002#`: the agent whose endpoint
  is 1002), since a phone has no other way to name an agent.

Pure: keys in, commands out; the voice adapter carries the commands out as the REST
API's would be (`ari_app/conversation.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from hotline.calls.commands import Command, parse_command

#: The longest number `*2` takes (then the keys are dropped).
NUMBER_LIMIT = 20

HOLD_CODE = "*1"
TRANSFER_CODE = "*2"


@dataclass
class FeatureKeys:
    """The keys an agent pressed since their last `*` (empty: none pending)."""

    pending: str = ""

    def press(self, key: str, *, held: bool) -> Command | None:
        """The command the keys so far make, if complete; BadCommand for a number
        that is not one (the keys are dropped either way)."""
        if key == "*":
            self.pending = "*"
            return None
        if not self.pending:
            return None  # keys for the other party, not a feature code
        self.pending += key
        keys = self.pending
        if keys == HOLD_CODE:
            self.pending = ""
            return Command("resume" if held else "hold")
        if keys.startswith(TRANSFER_CODE):
            number = keys.removeprefix(TRANSFER_CODE)
            if key == "#":
                self.pending = ""
                return parse_command("transfer", {"to": f"number:{number.removesuffix('#')}"})
            if len(number) > NUMBER_LIMIT or not (number == "" or number.isdigit()):
                self.pending = ""
            return None
        self.pending = ""  # no such code
        return None
