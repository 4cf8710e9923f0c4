"""Where the project's files and the state folder are."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProjectPaths:
    home: Path  # the checkout: config/, dialplan/, ivr_flows/, sounds/
    state: Path  # generated and running state: .hotline/ (HOTLINE_STATE)
    config: Path | None = None  # another config file than config/hotline.yaml

    @classmethod
    def discover(cls) -> ProjectPaths:
        home = Path(os.environ.get("HOTLINE_HOME") or Path(__file__).resolve().parent.parent)
        state = Path(os.environ.get("HOTLINE_STATE") or home / ".hotline")
        return cls(home=home, state=state)

    @property
    def config_file(self) -> Path:
        return self.config or self.home / "config" / "hotline.yaml"

    @property
    def cache(self) -> Path:
        """Shared between runs and test sessions: the Asterisk chroot, rendered prompts."""
        return Path(os.environ.get("HOTLINE_CACHE") or self.home / ".hotline")

    @property
    def secrets_file(self) -> Path:
        return self.state / "secrets.yaml"
