"""What a transfer may dial."""

from __future__ import annotations

import re

#: A SIP URI we are willing to dial: no spaces, quotes, brackets or dialplan separators.
SIP_URI = re.compile(r"sips?:[A-Za-z0-9_.!~*'%+=$@:;?&/-]+")


def dial_string(target: str, agents: frozenset[str]) -> str:
    """The PJSIP dial string for a transfer target; ValueError says why not.

    A configured agent's endpoint dials that endpoint ("PJSIP/1001"). A SIP URI goes out
    through the `anonymous` endpoint ("PJSIP/anonymous/sip:user@host:port"), which
    chan_pjsip accepts as endpoint/URI."""
    target = target.strip()
    if target in agents:
        return f"PJSIP/{target}"
    if target.startswith(("sip:", "sips:")):
        if not SIP_URI.fullmatch(target):
            raise ValueError(f"{target!r} is not a SIP URI we can dial")
        return f"PJSIP/anonymous/{target}"
    raise ValueError(
        f"transfer target {target!r} is neither an agent's endpoint "
        f"({', '.join(sorted(agents)) or 'none configured'}) nor a sip: URI"
    )
