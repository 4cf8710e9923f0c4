"""The FastAGI wire protocol: the environment Asterisk sends first, then one command
line out and one response back at a time.

    agi_network_script: flow/main        (the request, then a blank line)
    STREAM FILE /srv/…/welcome "0123456789*#"
    200 result=49 endpos=5280            (the caller pressed "1")

Asterisk writes a lone `HANGUP` line when the caller hangs up; after that every
command on the channel answers `511`. Both raise `AgiHangup`, as does the socket
closing. Other failures (`510` unknown command, `520` bad syntax) raise `AgiError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Longest an AGI command may take to answer (recordings and transfers say their own).
COMMAND_TIMEOUT = 30.0
#: The environment is a few dozen short lines; more is not Asterisk talking.
MAX_ENV_LINES = 200

RESPONSE = re.compile(r"^(\d{3})[ -](?:result=(-?\d+)\s*(?:\((.*?)\))?\s*(.*))?")


class AgiError(Exception):
    """Asterisk refused an AGI command, or sent something that is not AGI."""


class AgiHangup(AgiError):
    """The channel hung up (or Asterisk closed the connection)."""


@dataclass(frozen=True)
class AgiResponse:
    code: int
    result: int
    #: The text in parentheses: "timeout", "dtmf", a variable's value.
    data: str = ""
    #: What follows: "endpos=5280".
    rest: str = ""

    def field(self, name: str) -> str | None:
        match = re.search(rf"\b{name}=(\S+)", self.rest)
        return match.group(1) if match else None


def quote(argument: str) -> str:
    """One AGI argument, quoted so spaces and commas stay inside it."""
    if any(c in argument for c in '"\n\r'):
        raise AgiError(f"AGI arguments cannot contain quotes or line breaks: {argument!r}")
    return f'"{argument}"'


class AgiChannel:
    """One FastAGI connection: the channel's environment and its command stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.env: dict[str, str] = {}
        self.hung_up = False
        self._lock = asyncio.Lock()  # one command in flight, as the protocol demands

    async def read_env(self, timeout: float = 10.0) -> dict[str, str]:
        """Read the `agi_*: value` lines up to the blank line."""
        async with asyncio.timeout(timeout):
            for _ in range(MAX_ENV_LINES):
                line = await self._line()
                if not line:
                    return self.env
                key, sep, value = line.partition(":")
                if not sep or not key.startswith("agi_"):
                    raise AgiError(f"not an AGI environment line: {line[:80]!r}")
                self.env[key] = value.strip()
        raise AgiError(f"AGI environment longer than {MAX_ENV_LINES} lines")

    async def _line(self) -> str:
        raw = await self.reader.readline()
        if not raw:
            self.hung_up = True
            raise AgiHangup("Asterisk closed the AGI connection")
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    async def command(self, *words: str, timeout: float = COMMAND_TIMEOUT) -> AgiResponse:
        """Send one command; its response, or AgiHangup / AgiError."""
        if self.hung_up:
            raise AgiHangup("the channel has hung up")
        text = " ".join(words)
        async with self._lock:
            try:
                self.writer.write(text.encode() + b"\n")
                await self.writer.drain()
            except (ConnectionError, OSError) as error:
                self.hung_up = True
                raise AgiHangup(f"AGI connection lost: {error}") from None
            try:
                async with asyncio.timeout(timeout):
                    response = await self._response(text)
            except TimeoutError:
                # Half a response may still come: the stream cannot be trusted any more.
                self.hung_up = True
                raise AgiError(f"{text}: no answer from Asterisk in {timeout:g} s") from None
        log.debug("AGI %s -> %s", text, response)
        return response

    async def _response(self, text: str) -> AgiResponse:
        while True:
            line = await self._line()
            if line == "HANGUP":
                # The notice comes on its own line; the command's answer still follows.
                self.hung_up = True
                continue
            match = RESPONSE.match(line)
            if match is None:
                raise AgiError(f"{text}: not an AGI response: {line[:120]!r}")
            code = int(match.group(1))
            if line[3:4] == "-":  # a multi-line answer (520 usage text): read to its end
                while not (await self._line()).startswith(f"{code} "):
                    pass
            if code == 511:
                self.hung_up = True
                raise AgiHangup(f"{text}: the channel has hung up")
            if code != 200:
                raise AgiError(f"{text}: Asterisk answered {line[:120]!r}")
            result = int(match.group(2)) if match.group(2) is not None else 0
            return AgiResponse(code, result, match.group(3) or "", match.group(4) or "")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
