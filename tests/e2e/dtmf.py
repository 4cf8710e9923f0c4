"""RFC 2833 key presses for SIPp, derived from the captures Debian's sip-tester ships.

Replaying one capture twice in a call repeats its RTP sequence numbers and timestamp,
and a receiver rightly drops the second key as a duplicate of the first. So each key
of a call is the shipped capture rewritten to continue one RTP stream: its sequence
numbers follow straight on from the previous key's, and its timestamp moves on by the
time that passed between the two keys.
"""

from __future__ import annotations

import struct
from pathlib import Path

SHIPPED = Path("/usr/share/sip-tester")
NAMES = {**{d: d for d in "0123456789"}, "*": "star", "#": "pound"}
ETHERNET = 14
PCAP_HEADER = 24
RECORD_HEADER = 16


def shipped_capture(digit: str) -> Path:
    path = SHIPPED / f"dtmf_2833_{NAMES[digit]}.pcap"
    if not path.exists():
        raise FileNotFoundError(f"{path}: install Debian's sip-tester")
    return path


#: Distinct sequence numbers in each shipped capture (its last packets repeat the end).
PACKETS_PER_KEY = 8
CLOCK_RATE = 8000
BASE_SEQUENCE = 1000
BASE_TIMESTAMP = 160_000


def keyed_capture(digit: str, position: int, seconds: float, workdir: Path) -> Path:
    """The capture for `digit` as the `position`-th key (0-based) of a call, pressed
    `seconds` after the call's first key."""
    target = workdir / f"dtmf-{position:03d}-{NAMES[digit]}.pcap"
    data = bytearray(shipped_capture(digit).read_bytes())
    # Each shipped capture has its own sequence and timestamp base: anchor them all.
    first_sequence: int | None = None
    offset = PCAP_HEADER
    while offset < len(data):
        length = struct.unpack_from("<I", data, offset + 8)[0]
        packet = offset + RECORD_HEADER
        udp = packet + ETHERNET + (data[packet + ETHERNET] & 0x0F) * 4
        rtp = udp + 8
        sequence = struct.unpack_from(">H", data, rtp + 2)[0]
        first_sequence = sequence if first_sequence is None else first_sequence
        struct.pack_into(
            ">HI",
            data,
            rtp + 2,
            (BASE_SEQUENCE + PACKETS_PER_KEY * position + sequence - first_sequence) & 0xFFFF,
            (BASE_TIMESTAMP + round(seconds * CLOCK_RATE)) & 0xFFFFFFFF,
        )
        struct.pack_into(">H", data, udp + 6, 0)  # the payload changed: no UDP checksum
        offset = packet + length
    target.write_bytes(bytes(data))
    return target
