"""Generated secrets: ARI, AMI, the API token and each agent's SIP password.

They are made once into the state folder (mode 0600) and never have defaults.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from hotline.yamlsource import load_yaml


def _token() -> str:
    return secrets.token_urlsafe(18)


@dataclass
class Secrets:
    ari_user: str = "hotline"
    ari_password: str = field(default_factory=_token)
    ami_user: str = "hotline"
    ami_secret: str = field(default_factory=_token)
    api_token: str = field(default_factory=_token)
    agent_passwords: dict[str, str] = field(default_factory=dict)


def load_secrets(path: Path, endpoints: list[str]) -> Secrets:
    """Read the secrets file, adding passwords for new agents; write it back if changed."""
    known = load_yaml(path)[0] if path.exists() else None
    current = Secrets(**known) if isinstance(known, dict) else Secrets()
    missing = [e for e in endpoints if e not in current.agent_passwords]
    for endpoint in missing:
        current.agent_passwords[endpoint] = _token()
    if missing or known is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(asdict(current), out, sort_keys=True)
    return current
