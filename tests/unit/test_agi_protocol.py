"""The FastAGI wire protocol: environment, responses, hang-up notices, bad input."""

from __future__ import annotations

import asyncio

import pytest

from agi.protocol import AgiChannel, AgiError, AgiHangup, quote


async def channel(script: bytes) -> tuple[AgiChannel, asyncio.StreamReader]:
    """An AgiChannel reading `script`, its commands readable from the returned reader."""
    reader = asyncio.StreamReader()
    reader.feed_data(script)
    reader.feed_eof()
    sent = asyncio.StreamReader()

    class Writer:
        def write(self, data: bytes) -> None:
            sent.feed_data(data)

        async def drain(self) -> None:
            return None

    return AgiChannel(reader, Writer()), sent  # type: ignore[arg-type]


async def test_environment_and_a_digit() -> None:
    agi, sent = await channel(
        b"agi_network: yes\nagi_network_script: flow/main\nagi_callerid: 555\n\n"
        b"200 result=49 endpos=5280\n"
    )
    env = await agi.read_env()
    assert env["agi_network_script"] == "flow/main" and env["agi_callerid"] == "555"
    response = await agi.command("STREAM FILE", quote("welcome"), quote("0123"))
    assert (response.result, response.field("endpos")) == (49, "5280")
    assert await sent.readline() == b'STREAM FILE "welcome" "0123"\n'


async def test_value_in_parentheses() -> None:
    agi, _ = await channel(b"200 result=1 (ANSWER)\n200 result=0 (timeout) endpos=8000\n")
    assert (await agi.command("GET VARIABLE", "DIALSTATUS")).data == "ANSWER"
    response = await agi.command("RECORD FILE")
    assert response.data == "timeout" and response.field("endpos") == "8000"


async def test_hangup_notice_then_dead_channel() -> None:
    agi, _ = await channel(b"HANGUP\n511 Command Not Permitted on a dead channel\n")
    with pytest.raises(AgiHangup):
        await agi.command("STREAM FILE", '"x"', '""')
    assert agi.hung_up
    with pytest.raises(AgiHangup, match="has hung up"):
        await agi.command("ANSWER")


async def test_closed_connection_is_a_hangup() -> None:
    agi, _ = await channel(b"")
    with pytest.raises(AgiHangup, match="closed the AGI connection"):
        await agi.command("ANSWER")


async def test_usage_text_and_unknown_command_are_errors() -> None:
    agi, _ = await channel(
        b"520-Invalid command syntax.  Proper usage follows:\nUsage: ...\n"
        b"520 End of proper usage.\n"
        b"510 Invalid or unknown command\n200 result=0\n"
    )
    with pytest.raises(AgiError, match="520"):
        await agi.command("STREAM FILE")
    with pytest.raises(AgiError, match="510"):
        await agi.command("FROB")
    assert (await agi.command("ANSWER")).result == 0  # still in step after both


async def test_garbage_is_refused() -> None:
    agi, _ = await channel(b"hello there\n")
    with pytest.raises(AgiError, match="not an AGI response"):
        await agi.command("ANSWER")
    agi, _ = await channel(b"GET / HTTP/1.1\n\n")
    with pytest.raises(AgiError, match="not an AGI environment line"):
        await agi.read_env()


async def test_silent_asterisk_times_out_and_the_channel_is_dropped() -> None:
    reader = asyncio.StreamReader()  # never answers

    class Writer:
        def write(self, data: bytes) -> None:
            return None

        async def drain(self) -> None:
            return None

    agi = AgiChannel(reader, Writer())  # type: ignore[arg-type]
    with pytest.raises(AgiError, match="no answer from Asterisk"):
        await agi.command("ANSWER", timeout=0.05)
    assert agi.hung_up


def test_quote_refuses_what_would_break_the_line() -> None:
    assert quote("PJSIP/1001,30,g") == '"PJSIP/1001,30,g"'
    with pytest.raises(AgiError, match="quotes or line breaks"):
        quote('a"b')
    with pytest.raises(AgiError):
        quote("a\nHANGUP")
