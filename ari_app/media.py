"""Callers' audio from Asterisk in real time: one UDP socket in the controller
receives the RTP that ARI external-media channels send, and hands each stream's
payload (mu-law; `ulaw_to_pcm` decodes it when someone listens) to whoever
registered that stream's source address.

Each stream's packets are counted (`StreamStats`): lost (a gap in the sequence
numbers), late (arrived after a later one: dropped, so the listener hears the audio in
order), silent (a frame of digital silence: a snoop channel sends one at every tick it
finds no audio from the caller, docs/speech.md), and the longest pause between two
arrivals; the caller's audio logs them when it closes.

Asterisk picks a local port per external-media channel (UNICASTRTP_LOCAL_PORT); that
address, as the packets' source, tells the streams apart, so one socket serves every
call.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

log = logging.getLogger(__name__)

Address = tuple[str, int]
Sink = Callable[[bytes], None]

PCMU = 0
#: The RTP payload format Asterisk is asked for (externalMedia `format`).
FORMAT = "ulaw"
SAMPLE_RATE = 8000


def _ulaw_sample(byte: int) -> int:
    """G.711 mu-law to a 16-bit linear sample."""
    byte = ~byte & 0xFF
    magnitude = ((byte & 0x0F) << 3) + 0x84
    magnitude <<= (byte & 0x70) >> 4
    return (0x84 - magnitude) if byte & 0x80 else (magnitude - 0x84)


ULAW = [_ulaw_sample(b) for b in range(256)]


def ulaw_to_pcm(payload: bytes) -> bytes:
    """mu-law bytes -> 16-bit little-endian PCM."""
    return array("h", [ULAW[b] for b in payload]).tobytes()


def rtp_payload(packet: bytes) -> tuple[int, bytes] | None:
    """(payload type, payload) of an RTP packet; None when it is not one."""
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return None
    first, second = packet[0], packet[1]
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension: 4 bytes, then its length in 32-bit words
        if len(packet) < offset + 4:
            return None
        (words,) = struct.unpack_from(">H", packet, offset + 2)
        offset += 4 + 4 * words
    end = len(packet)
    if first & 0x20 and end > offset:  # padding: its length is the last byte
        end -= packet[-1]
    return second & 0x7F, packet[offset:end]


def silent(payload: bytes) -> bool:
    """Whether a mu-law payload is digital silence (every sample 0)."""
    return bool(payload) and not payload.strip(b"\xff\x7f")


@dataclass
class StreamStats:
    """What arrived on one stream (see the module docstring)."""

    packets: int = 0
    lost: int = 0
    late: int = 0
    silent: int = 0
    longest_gap: float = 0.0  # seconds between two arrivals
    _sequence: int | None = field(default=None, repr=False)
    _arrived: float | None = field(default=None, repr=False)

    def take(self, sequence: int, payload: bytes, now: float) -> bool:
        """Count one packet; False when it is late (to be dropped)."""
        if self._sequence is not None:
            ahead = (sequence - self._sequence) % 0x10000
            if ahead == 0 or ahead >= 0x8000:  # a repeat, or behind the newest
                self.late += 1
                return False
            self.lost += ahead - 1
        self._sequence = sequence
        if self._arrived is not None:
            self.longest_gap = max(self.longest_gap, now - self._arrived)
        self._arrived = now
        self.packets += 1
        self.silent += silent(payload)
        return True

    def summary(self) -> str:
        return (
            f"{self.packets} packets, {self.lost} lost, {self.late} late, "
            f"{self.silent} silent, longest gap {self.longest_gap * 1000:.0f} ms"
        )


class MediaServer(asyncio.DatagramProtocol):
    """The controller's RTP socket for callers' audio."""

    def __init__(self) -> None:
        self.sinks: dict[Address, Sink] = {}
        self.stats: dict[Address, StreamStats] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.address: Address = ("127.0.0.1", 0)
        self.dropped = 0  # packets from no registered stream

    async def start(self, host: str, port: int) -> Address:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self.transport = transport
        self.address = transport.get_extra_info("sockname")[:2]
        log.info("callers' audio for speech on udp %s:%d", *self.address)
        return self.address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A datagram endpoint's protocol is only ever given a datagram transport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        key = addr[:2] if addr[:2] in self.sinks else ("*", addr[1])
        sink = self.sinks.get(key)
        parsed = rtp_payload(data)
        if sink is None or parsed is None or parsed[0] != PCMU:
            self.dropped += 1
            return
        (sequence,) = struct.unpack_from(">H", data, 2)
        if self.stats[key].take(sequence, parsed[1], time.monotonic()):
            sink(parsed[1])

    def register(self, source: Address, sink: Sink) -> None:
        """Send audio from `source` to `sink`; an unspecified host ("0.0.0.0", as
        Asterisk may report its side) matches the port from any address."""
        self.sinks[_key(source)] = sink
        self.stats[_key(source)] = StreamStats()

    def unregister(self, source: Address) -> StreamStats | None:
        """Stop sending `source`'s audio; what arrived from it (None: not registered)."""
        self.sinks.pop(_key(source), None)
        return self.stats.pop(_key(source), None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _key(source: Address) -> Address:
    host, port = source
    return ("*", port) if host in ("0.0.0.0", "::", "") else (host, port)
