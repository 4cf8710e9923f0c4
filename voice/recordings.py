"""Where Asterisk writes recordings, and the `recording.saved` event that stores one
with its contact."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Recordings:
    """Where Asterisk writes recordings, as Asterisk sees the folder and as we do."""

    asterisk_dir: str
    host_dir: Path | None  # None: Asterisk runs elsewhere, the file is not ours to see

    def prepare(self) -> None:
        """Create the folder where we can: ARI refuses to record into a missing one.
        It gets the owner of its parent (the spool), Asterisk's own user."""
        if self.host_dir is None or self.host_dir.is_dir():
            return
        self.host_dir.mkdir(parents=True, exist_ok=True)
        parent = self.host_dir.parent.stat()
        with contextlib.suppress(PermissionError):  # not root: we made it as Asterisk's user
            os.chown(self.host_dir, parent.st_uid, parent.st_gid)

    def asterisk_path(self, name: str, ext: str = "wav") -> str:
        return f"{self.asterisk_dir.rstrip('/')}/{name}.{ext}"

    def host_path(self, name: str, ext: str = "wav") -> Path | None:
        return self.host_dir / f"{name}.{ext}" if self.host_dir else None

    def event(self, name: str, duration: float, outcome: str, **extra: Any) -> dict[str, Any]:
        """The `recording.saved` event data: stored with the contact."""
        host = self.host_path(name)
        return {
            "name": name,
            "duration": round(duration, 2),
            "outcome": outcome,
            "format": "wav",
            "file": str(host) if host else self.asterisk_path(name),
            "asterisk_file": self.asterisk_path(name),
            **extra,
        }
